//! The original scenario (S1), step by step: a counter keeps its state, its
//! dictionary and its table across a kill of its worker and a transfer to
//! another supervisor.
//!
//! Run it with `cargo run --example quickstart`.

use peeper::{Actor, BoxError, Context, StateMut, Supervisor};

/// A counter with a table and a dictionary entry.
struct Counter;

enum Call {
    /// The counter's value.
    State,
    /// A dictionary entry.
    Dict(&'static str),
}

enum Cast {
    CreateTable(&'static str, Vec<(u32, &'static str)>),
    SetDict(&'static str, i64),
    Increment,
}

#[derive(Debug, PartialEq)]
enum Reply {
    Value(i64),
    Dict(Option<i64>),
}

impl Actor for Counter {
    type State = i64;
    type Call = Call;
    type Reply = Reply;
    type Cast = Cast;
    type Info = ();

    async fn handle_call(
        &self,
        msg: Call,
        state: &mut StateMut<i64>,
        ctx: &mut Context<Self>,
    ) -> Result<Reply, BoxError> {
        Ok(match msg {
            Call::State => Reply::Value(**state),
            Call::Dict(key) => Reply::Dict(ctx.dictionary().get::<i64>(key).copied()),
        })
    }

    async fn handle_cast(
        &self,
        msg: Cast,
        state: &mut StateMut<i64>,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        match msg {
            Cast::CreateTable(name, rows) => {
                let table = ctx.table::<u32, &'static str>(name)?;
                for (k, v) in rows {
                    table.insert(k, v);
                }
            }
            Cast::SetDict(key, value) => {
                ctx.dictionary_mut().put(key, value);
            }
            Cast::Increment => **state += 1,
        }
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("1. Start a supervisor \"source\" and, under it, a counter named \"p\" at 0.");
    let source = Supervisor::start("source").await?;
    let p = source.start_child("p", Counter, 0).await?;

    println!(
        "2. Ask \"p\" for its state: {:?}",
        peeper::call::<Counter>("p", Call::State).await?
    );

    println!("3. Cast: create table \"my_table\" with 3 rows; set dictionary foo = 42; increment.");
    let rows = vec![(1, "one"), (2, "two"), (3, "three")];
    peeper::cast::<Counter>("p", Cast::CreateTable("my_table", rows.clone()))?;
    peeper::cast::<Counter>("p", Cast::SetDict("foo", 42))?;
    peeper::cast::<Counter>("p", Cast::Increment)?;
    println!("   state is now {:?}", p.call(Call::State).await?);
    let table_before = p.table::<u32, &str>("my_table")?;

    println!("4. Kill the worker (an abort, not a polite stop).");
    p.kill();
    println!(
        "   state: {:?}, dictionary foo: {:?}, table rows: {}, through the same handle",
        p.call(Call::State).await?,
        p.call(Call::Dict("foo")).await?,
        sorted_rows(&p.table::<u32, &str>("my_table")?)
    );

    println!("5. Start a supervisor \"target\" and transfer \"p\" to it.");
    let target = Supervisor::start("target").await?;
    peeper::transfer("p", &source, &target).await?;

    let children = target.which_children();
    println!(
        "6. target's children: {} ({:?} kind, id {}); name lookup of \"p\" gives {}; source has {}.",
        children.len(),
        children[0].kind,
        children[0].id,
        peeper::whereis("p").map_or("nothing".to_owned(), |id| id.to_string()),
        source.count()
    );

    let table_after = p.table::<u32, &str>("my_table")?;
    println!(
        "7. state: {:?}, dictionary foo: {:?}, table rows: {}; same table, not a copy: {}",
        peeper::call::<Counter>("p", Call::State).await?,
        p.call(Call::Dict("foo")).await?,
        sorted_rows(&table_after),
        table_after.same_table(&table_before)
    );

    source.stop().await;
    target.stop().await;
    println!("Done: nothing was lost and nothing was copied.");
    Ok(())
}

fn sorted_rows(table: &peeper::TableReader<u32, &'static str>) -> String {
    let mut rows = table.to_vec();
    rows.sort();
    format!("{rows:?}")
}
