//! One client's bursts and sustained load (DESIGN §7, §9), through the real
//! handlers on DynamoDB Local behind the layer that applies DynamoDB's
//! transaction conflict rule, larger than `make test` runs them. Prints one
//! table; BENCHMARKS.md reports it.
//!
//! `make bench` starts the engines and runs it (release build).

use otp_integration_tests::load::{
    DefaultLimit, LoadReport, burst_against_a_default_limit, burst_of_one_client,
    burst_of_one_range_across_clients, sustained_one_client,
};
use otp_integration_tests::logs::capture_process_at;

fn print(report: &LoadReport, name: &str) {
    println!("{}", report.row(name));
    if let Some(first) = report.other.first() {
        println!(
            "|   first of {} other answers: {first:?}",
            report.other.len()
        );
    }
}

fn main() {
    // As the functions log in AWS: formatting the SDK's TRACE output would
    // be what this measures otherwise.
    capture_process_at(tracing::Level::INFO);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        println!(
            "| run | requests | 200 | 429 | other | conflicts retried | requests/s | p50 | p99 | max |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for n in [200, 1000] {
            let report = burst_of_one_client(n).await;
            print(&report, &format!("{n} at once, one client, limits raised"));
        }
        for n in [200, 500] {
            let report = burst_of_one_range_across_clients(n).await;
            print(&report, &format!("{n} at once, one range, {n} clients"));
        }
        let report = sustained_one_client(200, 10).await;
        print(&report, "200 a second for 10 s, one client, limits raised");
        for (limit, n) in [
            (DefaultLimit::ClientPerMinute, 150),
            (DefaultLimit::EndUserPerMinute, 40),
            (DefaultLimit::RangePerHour, 50),
        ] {
            for instances in [1, 4] {
                let report = burst_against_a_default_limit(limit, n, instances).await;
                let name = format!(
                    "{n} at once against {limit:?} ({}), {instances} instance(s)",
                    limit.value()
                );
                print(&report, &name);
            }
        }
    });
}
