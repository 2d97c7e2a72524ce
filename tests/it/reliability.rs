//! Reliability statistics against `../shared/references/ORACLES.md` (the published values
//! are quoted in each test with their tolerance), interval-censored Weibull fits against
//! the generator's true failure times, and the edge cases that must give a message.

use yieldlake::analysis::reliability::{self as rel, BoundsMethod, Obs};
use yieldlake::generate::qual::life_test;

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(((a - b) / b).abs() <= tol, "{what}: {a} vs {b} (rel tol {tol})");
}

/// ORACLES.md, "Zero-failure sample size and LTPD", "Failure rate from a life test",
/// "Mission-profile test equivalence".
#[test]
fn formulas_equal_the_oracles() {
    // The table prints percentages to 3 or 4 decimals: equal within 1e-3 relative or half
    // a unit of the last printed digit, whichever is larger (800 parts: 0.28741 %, "0.287").
    for (n, c, p, digits) in [
        (45, 0.90, 4.988, 3),
        (77, 0.90, 2.946, 3),
        (77, 0.60, 1.183, 3),
        (231, 0.90, 0.992, 3),
        (231, 0.60, 0.396, 3),
        (800, 0.90, 0.287, 3),
        (2400, 0.90, 0.0959, 4),
    ] {
        let p: f64 = p;
        let (lo, up) = rel::clopper_pearson(n, 0, c, false).unwrap();
        assert_eq!(lo, 0.0);
        let tol = (1e-3 * p).max(0.5 * 10f64.powi(-digits));
        assert!((100.0 * up - p).abs() <= tol, "LTPD n={n} C={c}: {} % vs {p} %", 100.0 * up);
    }
    assert_eq!(rel::sample_size(0.01, 0.90, 0).unwrap(), 230);
    // With failures the bound is the Beta quantile; the sample size inverts it.
    let n = rel::sample_size(0.01, 0.90, 2).unwrap();
    assert!(rel::clopper_pearson(n, 2, 0.9, false).unwrap().1 <= 0.01 && rel::clopper_pearson(n - 1, 2, 0.9, false).unwrap().1 > 0.01);
    close(rel::arrhenius_af(1.2, 60.0, 100.0), 88.2957, 1e-5, "Arrhenius 60/100 C, 1.2 eV");
    for (use_c, af) in [(55.0, 259.1), (70.0, 87.8), (85.0, 32.6), (100.0, 13.1), (115.0, 5.65), (130.0, 2.59)] {
        close(rel::arrhenius_af(0.7, use_c, 150.0), af, 3e-3, &format!("Arrhenius table {use_c} C"));
    }
    let r = rel::chi2_failure_rate(5280.0 * 832.0, 0, rel::arrhenius_af(0.7, 55.0, 150.0), 0.6).unwrap();
    close(r.af, 259.18, 2e-3, "HTRB AF");
    close(r.fit, 0.805, 2e-3, "HTRB FIT");
    close(r.mttf_h / 8760.0, 141_840.0, 2e-3, "HTRB MTTF years");
    let r = rel::chi2_failure_rate(231.0 * 1000.0, 0, rel::arrhenius_af(0.7, 55.0, 150.0), 0.6).unwrap();
    close(r.fit, 15.30, 2e-3, "AEC-Q101 A7.2 FIT");
    close(1000.0 * 0.0 + 12_000.0 / rel::arrhenius_af(0.7, 87.0, 125.0), 1394.0, 2e-3, "HTOL mission");
    close(54_750.0 / rel::coffin_manson_af(205.0, 76.0, 4.0), 1034.0, 2e-3, "TC mission");
    close(131_400.0 / rel::peck_af(0.8, 32.0, 74.0, 85.0, 85.0, 3.0), 961.0, 3e-3, "THB mission");
    close(131_400.0 / rel::peck_af(0.8, 32.0, 74.0, 130.0, 85.0, 3.0), 53.2, 3e-3, "HAST mission");
}

/// ORACLES.md, "Weibull, maximum likelihood": W1 with its Fisher bounds and B10, and W2.
#[test]
fn weibull_fits_equal_the_oracles() {
    let w1 = [58, 75, 36, 52, 63, 65, 22, 17, 28, 64, 23, 40, 73, 45, 52, 36, 52, 60, 13, 55, 82, 55, 34, 57, 23, 42, 66, 35, 34, 25];
    let obs: Vec<Obs> = w1.iter().map(|t| Obs::exact(*t as f64)).collect();
    let f = rel::weibull_fit(&obs, 0.95).unwrap();
    let tol = 1e-4;
    close(f.beta, 2.80086, tol, "W1 beta");
    close(f.eta, 51.858, tol, "W1 eta");
    close(f.loglik, -129.063, tol, "W1 loglik");
    assert_eq!(f.bounds, BoundsMethod::Fisher);
    close(f.eta_ci[0], 45.3359, tol, "W1 eta lower");
    close(f.eta_ci[1], 59.3183, tol, "W1 eta upper");
    close(f.beta_ci[0], 2.09624, tol, "W1 beta lower");
    close(f.beta_ci[1], 3.74233, tol, "W1 beta upper");
    close(f.b10, 23.221, tol, "W1 B10");
    let w2 = [1.1, 1.4, 1.3, 1.7, 1.9, 1.8, 1.6, 2.2, 1.7, 2.7, 4.1, 1.8, 1.5, 1.2, 1.4, 3.0, 1.7, 2.3, 1.6, 2.0];
    let f = rel::weibull_fit(&w2.iter().map(|t| Obs::exact(*t)).collect::<Vec<_>>(), 0.95).unwrap();
    close(f.beta, 2.7870, tol, "W2 beta");
    close(f.eta, 2.12997, tol, "W2 eta");
}

/// Generated life test, 300 units with Weibull(β = 2, η = 800 h) failure times read at
/// 168, 500 and 1000 h: the interval fit's bounds hold the true β and η; fitting each
/// failure as exact at the readpoint that saw it is further off (shown in the output).
/// The chi-square FIT counts failures per readpoint with the hours each unit worked.
#[test]
fn interval_censored_fit_recovers_the_truth() {
    let (beta, eta) = (2.0, 800.0);
    let rps = [168, 500, 1000];
    let truth = life_test(7, 300, beta, eta, &rps);
    let interval: Vec<Obs> = truth
        .iter()
        .map(|u| match u.seen_at {
            Some(rp) => Obs::interval(u.last_good as f64, rp as f64),
            None => Obs::censored(u.last_good as f64),
        })
        .collect();
    let at_readpoint: Vec<Obs> = truth
        .iter()
        .map(|u| match u.seen_at {
            Some(rp) => Obs::exact(rp as f64),
            None => Obs::censored(1000.0),
        })
        .collect();
    let fi = rel::weibull_fit(&interval, 0.95).unwrap();
    let fe = rel::weibull_fit(&at_readpoint, 0.95).unwrap();
    println!(
        "true beta {beta}, eta {eta}; interval fit beta {:.3} [{:.3}, {:.3}], eta {:.1} [{:.1}, {:.1}] ({:?}); exact-at-readpoint fit beta {:.3}, eta {:.1}",
        fi.beta, fi.beta_ci[0], fi.beta_ci[1], fi.eta, fi.eta_ci[0], fi.eta_ci[1], fi.bounds, fe.beta, fe.eta
    );
    assert!(fi.beta_ci[0] <= beta && beta <= fi.beta_ci[1]);
    assert!(fi.eta_ci[0] <= eta && eta <= fi.eta_ci[1]);
    let off = |b: f64, e: f64| (b / beta).ln().abs() + (e / eta).ln().abs();
    assert!(off(fe.beta, fe.eta) > off(fi.beta, fi.eta), "the exact-at-readpoint fit is closer to the truth");
    assert_eq!(fi.interval, truth.iter().filter(|u| u.seen_at.is_some()).count());
    // Turnbull: its cumulative mass at each readpoint is the share seen failed by then
    // (every unit is read at every readpoint, so it equals the empirical fraction).
    let tb = rel::turnbull(&interval);
    for rp in rps {
        let seen = truth.iter().filter(|u| u.seen_at.is_some_and(|s| s <= rp)).count() as f64 / truth.len() as f64;
        let step = tb.iter().filter(|s| s.hi <= rp as f64).map(|s| s.mass).sum::<f64>();
        assert!((step - seen).abs() < 1e-9, "Turnbull F({rp}) = {step}, empirical {seen}");
    }
    // Innermost intervals of readpoint data are the readpoint intervals themselves.
    let spans: Vec<(f64, f64)> = tb.iter().map(|s| (s.lo, s.hi)).collect();
    assert_eq!(spans, vec![(0.0, 168.0), (168.0, 500.0), (500.0, 1000.0), (1000.0, f64::INFINITY)]);
    // The probability plot draws one Turnbull point per finite step, at its cumulative
    // mass, and renders at its fixed size.
    let svg = yieldlake::report::weibull::draw_weibull("life test", &fi, &tb, "h");
    let dots: Vec<f64> = svg
        .split("class=\"turnbull\"")
        .skip(1)
        .map(|c| c.split("data-cdf=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(dots, tb.iter().filter(|s| s.hi.is_finite()).map(|s| s.cdf).collect::<Vec<_>>());
    let png = resvg::tiny_skia::Pixmap::decode_png(&yieldlake::report::png::svg_to_png(&svg).unwrap()).unwrap();
    assert_eq!((png.width(), png.height()), (yieldlake::report::weibull::WIDTH, yieldlake::report::weibull::HEIGHT));
    // FIT: failures per readpoint, hours up to the start of each unit's interval.
    let hours = rel::device_hours(&interval);
    let expect: f64 = truth.iter().map(|u| u.last_good as f64).sum();
    assert_eq!(hours, expect);
    let r = rel::chi2_failure_rate(hours, fi.interval as u64, 1.0, 0.6).unwrap();
    assert!(r.fit > 0.0 && r.failures as usize == fi.interval);
}

/// The cases that fix no Weibull, each with a message and no panic.
#[test]
fn weibull_edge_cases_give_messages() {
    let cases: Vec<(Vec<Obs>, &str)> = vec![
        (vec![Obs::censored(1000.0); 20], "no failures"),
        (vec![Obs::interval(168.0, 500.0), Obs::interval(168.0, 500.0), Obs::censored(1000.0), Obs::censored(500.0)], "one interval"),
        (vec![Obs::interval(0.0, 168.0); 12], "all parts failed at the first readpoint"),
        (vec![Obs::interval(500.0, 168.0), Obs::exact(10.0)], "right bound 168 is before its left bound 500"),
        (vec![Obs::exact(-5.0), Obs::exact(10.0)], "must be a finite number >= 0"),
    ];
    for (obs, msg) in cases {
        let e = rel::weibull_fit(&obs, 0.95).unwrap_err();
        assert!(e.0.contains(msg), "{}: expected {msg:?}", e.0);
    }
    // A single failure among survivors fits, with likelihood-ratio bounds.
    let mut obs = vec![Obs::censored(1000.0); 30];
    obs.push(Obs::exact(400.0));
    obs.push(Obs::interval(168.0, 500.0));
    let f = rel::weibull_fit(&obs, 0.9).unwrap();
    assert_eq!(f.bounds, BoundsMethod::LikelihoodRatio);
    assert!(f.beta_ci[0] < f.beta && f.beta < f.beta_ci[1]);
    assert!(rel::clopper_pearson(10, 11, 0.9, false).is_err());
    assert!(rel::sample_size(1.5, 0.9, 0).is_err());
}

fn yl(args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("yieldlake").unwrap().args(args).output().unwrap()
}

/// `rel weibull` reads both CSV layouts to the same fit, prints the documented keys, and
/// names the line of a bad row.
#[test]
fn rel_weibull_csv_layouts_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.csv");
    let new = dir.path().join("new.csv");
    std::fs::write(&old, "time,censored\n120,0\n340,0\n560,0\n800,1\n800,1\n230,0\n").unwrap();
    std::fs::write(&new, "time_lo,time_hi\n120,120\n340,340\n560,560\n800,\n800,\n230,230\n").unwrap();
    let run = |p: &std::path::Path| {
        let o = yl(&["rel", "weibull", "--times", p.to_str().unwrap(), "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let (a, b) = (run(&old), run(&new));
    for k in ["beta", "eta", "loglik", "beta_ci", "eta_ci", "b1", "b10"] {
        assert!(a.get(k).is_some(), "{k}");
        assert_eq!(a[k], b[k], "{k}");
    }
    let bad = dir.path().join("bad.csv");
    for (text, msg) in [
        ("time,censored\n100,0\n-3,0\n", "bad.csv:3"),
        ("time_lo,time_hi\n500,168\n", "bad.csv:2: the interval's right bound 168 is before its left bound 500"),
        ("when,what\n1,2\n", "bad.csv:1: the header"),
        ("time,censored\n100,2\n", "censored must be 0 or 1"),
    ] {
        std::fs::write(&bad, text).unwrap();
        let o = yl(&["rel", "weibull", "--times", bad.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(msg), "{err} lacks {msg:?}");
        assert!(!err.contains("panicked"));
    }
    // The calculator's documented keys.
    let o = yl(&[
        "rel",
        "fit",
        "--units",
        "231",
        "--hours",
        "1000",
        "--stress-c",
        "150",
        "--use-c",
        "55",
        "--ea",
        "0.7",
        "--cl",
        "0.6",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    close(v["fit"].as_f64().unwrap(), 15.30, 2e-3, "rel fit");
    assert!(v["af"].is_number() && v["mttf_h"].is_number());
    let o = yl(&["rel", "binomial", "--n", "77", "--failures", "0", "--cl", "0.9", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    close(100.0 * v["upper"].as_f64().unwrap(), 2.946, 1e-3, "rel binomial");
    let o = yl(&["rel", "sample-size", "--p", "0.01", "--cl", "0.9", "--json"]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["units"], 230);
    let o = yl(&[
        "rel",
        "mission",
        "--model",
        "coffin-manson",
        "--use-cycles",
        "54750",
        "--use-dt",
        "76",
        "--test-dt",
        "205",
        "--exponent",
        "4",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    close(v["test_duration"].as_f64().unwrap(), 1034.0, 2e-3, "rel mission");
    let o = yl(&["rel", "mission", "--model", "peck", "--use-hours", "10"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--model needs --ea"));
}
