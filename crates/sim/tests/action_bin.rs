//! The `isogate-sim` binary serves the action simulator at the URL it prints.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn binary_prints_a_working_base_url_and_credentials() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_isogate-sim"))
        .args(["--action", "--seed", "7", "--scale", "5"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("action"), "{line}");
    let base = words.next().unwrap().to_owned();
    assert!(
        line.contains(isogate_sim::action::DEFAULT_CLIENT_KEY),
        "{line}"
    );
    // Only the chosen simulator runs.
    let next = lines.next_line().await.unwrap().unwrap();
    assert!(next.starts_with("fault control"), "{next}");

    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/auth.php"))
        .form(&[
            ("action", "login"),
            ("key", isogate_sim::action::DEFAULT_ADMIN_KEY),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["result"]["token"].as_str().unwrap();
    let list: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/iso.php"))
        .form(&[("action", "list_iso"), ("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let n = list["iso_images"].as_array().unwrap().len();
    assert!(
        (1..=5).contains(&n),
        "--scale 5 gives at most 5 images: {n}"
    );
    child.kill().await.unwrap();
}
