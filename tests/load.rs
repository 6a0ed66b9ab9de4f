//! DESIGN §7 and §9: one client's bursts, and one number range's, through
//! the layer that applies DynamoDB's transaction conflict rule, bounded for
//! `make test` (`make bench` runs them larger and reports the numbers).
//! No request may end in a 5xx; with the default limits exactly the
//! requests over a limit get 429.

use otp_integration_tests::load::{
    DefaultLimit, LoadReport, burst_against_a_default_limit, burst_of_one_client,
    burst_of_one_range_across_clients, sustained_one_client,
};
use otp_integration_tests::logs::capture_process_at;

/// Logs are captured, and checked for secrets, at the functions' deployed
/// level: formatting the SDK's TRACE output of thousands of calls would be
/// what this measures otherwise.
fn deployed_log_level() {
    capture_process_at(tracing::Level::INFO);
}

fn assert_no_failures(report: &LoadReport) {
    assert!(
        report.other.is_empty(),
        "{} answers that were neither 200 nor 429, e.g. {:?}",
        report.other.len(),
        report.other.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_7_a_burst_of_200_code_requests_of_one_client_all_succeed() {
    deployed_log_level();
    let report = burst_of_one_client(200).await;
    println!("{}", report.row("200 at once, one client"));
    assert_no_failures(&report);
    assert_eq!(report.ok, 200, "{report:?}");
    // No item is in the transaction of every request of a client.
    assert_eq!(report.conflicts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_7_a_burst_of_200_numbers_of_one_range_across_200_clients_all_succeed() {
    deployed_log_level();
    let report = burst_of_one_range_across_clients(200).await;
    println!("{}", report.row("200 at once, one range, 200 clients"));
    assert_no_failures(&report);
    assert_eq!(report.ok, 200, "{report:?}");
    // No item is in the transaction of every request of a number range.
    assert_eq!(report.conflicts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_7_sustained_200_a_second_of_one_client_never_fail() {
    deployed_log_level();
    let report = sustained_one_client(200, 2).await;
    println!("{}", report.row("200/s for 2 s, one client"));
    assert_no_failures(&report);
    assert_eq!(report.ok, 400, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_5_8_default_limits_refuse_exactly_the_requests_over_them() {
    deployed_log_level();
    for (limit, n) in [
        (DefaultLimit::ClientPerMinute, 150),
        (DefaultLimit::EndUserPerMinute, 40),
        (DefaultLimit::RangePerHour, 50),
    ] {
        let report = burst_against_a_default_limit(limit, n, 1).await;
        println!("{}", report.row(&format!("{n} at once against {limit:?}")));
        if limit == DefaultLimit::EndUserPerMinute {
            // One end user's per-minute counter is in each of its requests'
            // transactions (DESIGN §5.12: so that a request it refuses
            // writes nothing); they conflict with each other only. The
            // retries settle most; one that outlasts them is told to try
            // again (503 + Retry-After), never admitted past the limit.
            let busy = report.other.iter().filter(|a| a.status == 503).count();
            assert_eq!(busy, report.other.len(), "{:?}", report.other.first());
            assert!(
                report
                    .other
                    .iter()
                    .all(|a| a.header("retry-after").is_some())
            );
            assert!(report.ok <= limit.value() && report.ok + busy >= limit.value());
            assert_eq!(report.ok + report.limited + busy, n);
            continue;
        }
        assert_no_failures(&report);
        assert_eq!(
            (report.ok, report.limited),
            (limit.value(), n - limit.value()),
            "{limit:?}"
        );
        // Different phones: no two requests share an item of a transaction.
        assert_eq!(report.conflicts, 0, "{limit:?}");
    }
}

/// Each new instance starts counting on the first shard of a shared counter;
/// a limit must not be spent early because many instances did so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_5_8_a_shared_limit_holds_exactly_however_requests_fall_on_instances() {
    deployed_log_level();
    let limit = DefaultLimit::ClientPerMinute;
    let n = limit.value() + 10;
    let report = burst_against_a_default_limit(limit, n, 30).await;
    println!("{}", report.row(&format!("{n} at once over 30 instances")));
    assert_no_failures(&report);
    assert_eq!((report.ok, report.limited), (limit.value(), 10));
}
