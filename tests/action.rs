//! The GitHub Action (`action.yml`) and the example gate workflow: valid YAML; every input of
//! the action is a flag of `referee run` (or says it is not one) and is passed on by the run
//! step; the example uses the action.

use clap::CommandFactory;
use serde_yaml_ng::Value;

fn yaml(rel: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn action_inputs_are_run_flags_and_reach_referee() {
    let action = yaml("action.yml");
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let cli = referee::cli::Cli::command();
    let run = cli.find_subcommand("run").expect("referee run");
    let flags: Vec<String> = run.get_arguments().filter_map(|a| a.get_long().map(str::to_string)).collect();
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    let script = steps.iter().find(|s| s["id"].as_str() == Some("run")).and_then(|s| s["run"].as_str()).expect("the run step's script");
    let inputs = action["inputs"].as_mapping().unwrap();
    let mut passed = 0;
    for (name, spec) in inputs {
        let name = name.as_str().unwrap();
        let description = spec["description"].as_str().unwrap_or_default();
        if description.trim_start().starts_with("(not a referee flag)") {
            continue;
        }
        assert!(flags.iter().any(|f| f == name), "input '{name}' is not a flag of `referee run` ({flags:?})");
        // Passed on: as the flag, or (credentials) through referee's environment variable.
        let arg = run.get_arguments().find(|a| a.get_long() == Some(name)).unwrap();
        let by_env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
        let on_line = script.contains(&format!("--{name}"));
        let in_env = by_env.as_ref().is_some_and(|e| script.contains(&format!("export {e}=")));
        assert!(on_line || in_env, "input '{name}' never reaches referee (--{name} or {by_env:?})");
        // A default must be one the flag accepts.
        if let Some(default) = spec["default"].as_str().filter(|d| !d.is_empty()) {
            let values: Vec<String> = arg.get_possible_values().iter().map(|v| v.get_name().to_string()).collect();
            assert!(values.is_empty() || values.iter().any(|v| v == default), "input '{name}' defaults to '{default}', not one of {values:?}");
        }
        passed += 1;
    }
    assert!(passed >= 5, "target, profile, filter, fail-on and report-dir at least");
    for wanted in ["target", "profile", "filter", "fail-on"] {
        assert!(inputs.contains_key(wanted), "the issue's input '{wanted}'");
    }
    assert_eq!(action["inputs"]["target"]["required"].as_bool(), Some(true));
    // Credentials never on the command line.
    for secret in ["--password", "--username", "--token"] {
        assert!(!script.contains(secret), "{secret} on the command line");
    }
    // Inputs reach the script through its environment, never spliced into its text.
    assert!(!script.contains("${{"), "an expression spliced into the run script");
    // The reports are uploaded even when checks fail.
    let upload = steps.iter().find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/upload-artifact@"))).expect("upload step");
    assert_eq!(upload["if"].as_str(), Some("always()"));
}

#[test]
fn the_example_gate_runs_the_action_against_a_service_registry() {
    let wf = yaml(".github/workflows/registry-gate.example.yml");
    let job = wf["jobs"].as_mapping().unwrap().values().next().unwrap();
    assert!(job["services"].as_mapping().is_some_and(|s| !s.is_empty()), "a registry as a service container");
    let uses: Vec<&str> = job["steps"].as_sequence().unwrap().iter().filter_map(|s| s["uses"].as_str()).collect();
    assert!(uses.contains(&"./"), "{uses:?}");
    let ci = yaml(".github/workflows/ci.yml");
    let runs: Vec<&str> = ci["jobs"]["test"]["steps"].as_sequence().unwrap().iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(runs.contains(&"./scripts/test.sh"), "ci.yml keeps running the README's test command: {runs:?}");
}
