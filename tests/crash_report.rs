//! Crash reports: with `crash_report::route_to_tracing`, a panic in a
//! callback becomes a `tracing` event naming the instance, its actor type and
//! the callback, and no longer reaches the previous panic hook; any other
//! panic still does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use peeper::{Actor, BoxError, CallError, Context, Crash, StateMut, Supervisor};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

struct Bomb;

impl Actor for Bomb {
    type State = ();
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ();

    async fn handle_call(
        &self,
        _: (),
        _: &mut StateMut<()>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        panic!("call went off")
    }

    async fn handle_cast(
        &self,
        _: (),
        _: &mut StateMut<()>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        panic!("cast went off")
    }
}

/// An event's fields, by name, as text.
type Fields = Vec<(String, String)>;

/// The fields of every event.
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<Fields>>>,
}

struct Visitor(Fields);

impl Visit for Visitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Visitor(Vec::new());
        event.record(&mut fields);
        self.events.lock().unwrap().push(fields.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

impl Recorder {
    /// The crash reports recorded so far.
    fn reports(&self) -> Vec<Fields> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter(|f| {
                f.iter()
                    .any(|(k, v)| k == "message" && v.contains("callback panicked"))
            })
            .cloned()
            .collect()
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no field {name} in {fields:?}"))
}

#[test]
fn callback_panics_go_to_tracing_and_other_panics_to_the_previous_hook() {
    // The hook that was there before: it counts what reaches it.
    let previous = Arc::new(AtomicUsize::new(0));
    let seen = previous.clone();
    std::panic::set_hook(Box::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    peeper::crash_report::route_to_tracing();
    peeper::crash_report::route_to_tracing(); // idempotent
    assert!(peeper::crash_report::is_routed());

    let recorder = Recorder::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(recorder.clone(), || {
        runtime.block_on(async {
            let sup = Supervisor::start("crash-report-sup").await.unwrap();
            let h = sup.start_child("crash-report-bomb", Bomb, ()).await.unwrap();
            h.cast(()).unwrap();
            let call = h.call(()).await;
            assert!(matches!(
                call,
                Err(CallError::Crashed { crash: Crash::Panicked(ref m), .. }) if m == "call went off"
            ));
            sup.stop().await;
        });
    });

    let reports = recorder.reports();
    assert_eq!(
        reports.len(),
        2,
        "one report per callback panic: {reports:?}"
    );
    for (report, callback, text) in [
        (&reports[0], "cast", "cast went off"),
        (&reports[1], "call", "call went off"),
    ] {
        assert_eq!(field(report, "instance"), "crash-report-bomb");
        assert_eq!(field(report, "callback"), callback);
        assert!(field(report, "kind").ends_with("Bomb"));
        assert_eq!(field(report, "panic"), text);
        assert!(field(report, "location").contains("crash_report.rs"));
    }
    assert_eq!(
        previous.load(Ordering::SeqCst),
        0,
        "callback panics skip the old hook"
    );

    let outside = std::panic::catch_unwind(|| panic!("not in a callback"));
    assert!(outside.is_err());
    assert_eq!(
        previous.load(Ordering::SeqCst),
        1,
        "other panics reach the old hook"
    );
}
