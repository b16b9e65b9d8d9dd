//! `deploy/Dockerfile`: no Docker engine runs here, so it is linted by
//! `hadolint` (which also parses it: a syntax error fails), read
//! instruction by instruction with `dockerfile-parse`, and checked against
//! what the README's build and the Kubernetes manifests rely on.

use serde_json::Value;

use super::tools;

/// One instruction: `FROM`, `RUN`, … and its arguments as written.
struct Instruction {
    name: String,
    value: String,
}

/// The stages of the Dockerfile, each a list of instructions starting with
/// its `FROM`.
fn stages() -> Vec<Vec<Instruction>> {
    let path = super::deploy_path("Dockerfile");
    let script = "import json, sys\n\
                  from dockerfile_parse import DockerfileParser\n\
                  with open(sys.argv[1], 'rb') as f:\n    \
                      print(json.dumps(DockerfileParser(fileobj=f).structure))\n";
    let out = tools::run(
        &tools::venv_tool("python"),
        ["-c".as_ref(), script.as_ref(), path.as_os_str()],
    );
    tools::assert_success(&out, "dockerfile-parse");
    let structure: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut stages: Vec<Vec<Instruction>> = Vec::new();
    for item in structure.as_array().unwrap() {
        let name = item["instruction"].as_str().unwrap().to_uppercase();
        if name == "COMMENT" {
            continue;
        }
        let instruction = Instruction {
            name: name.clone(),
            value: item["value"].as_str().unwrap().to_owned(),
        };
        if name == "FROM" {
            stages.push(vec![instruction]);
        } else {
            stages
                .last_mut()
                .unwrap_or_else(|| panic!("{name} before the first FROM"))
                .push(instruction);
        }
    }
    stages
}

fn values<'a>(stage: &'a [Instruction], name: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|i| i.name == name)
        .map(|i| i.value.as_str())
        .collect()
}

#[test]
fn dockerfile_passes_hadolint() {
    let path = super::deploy_path("Dockerfile");
    let out = tools::run(
        &tools::venv_tool("hadolint"),
        ["--no-color".as_ref(), path.as_os_str()],
    );
    tools::assert_success(&out, "hadolint deploy/Dockerfile");
}

#[test]
fn dockerfile_builds_the_release_host_and_runs_it_unprivileged_in_a_slim_image() {
    let stages = stages();
    assert!(stages.len() >= 2, "not a multi-stage build");
    let (build, runtime) = (&stages[0], stages.last().unwrap());

    // The build stage: the workspace's Rust version, the README's target,
    // `cargo build --release -p wharf`.
    let from = &build[0].value;
    let (image, stage_name) = from
        .split_once(" AS ")
        .or_else(|| from.split_once(" as "))
        .unwrap_or_else(|| panic!("the build stage has no name: FROM {from}"));
    let workspace = std::fs::read_to_string(tools::repo_root().join("Cargo.toml")).unwrap();
    let rust_version = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("no rust-version in the workspace Cargo.toml")
        .trim_matches('"');
    assert!(
        image.starts_with(&format!("rust:{rust_version}")),
        "the build stage uses {image}, the workspace needs Rust {rust_version}"
    );
    let runs = values(build, "RUN").join("\n");
    assert!(
        runs.contains("rustup target add wasm32-wasip2"),
        "the build stage does not add wasm32-wasip2:\n{runs}"
    );
    let cargo = runs
        .split("&&")
        .chain(runs.lines())
        .find(|c| c.contains("cargo build"))
        .unwrap_or_else(|| panic!("no cargo build in:\n{runs}"));
    let words: Vec<&str> = cargo.split_whitespace().collect();
    assert!(words.contains(&"--release"), "not a release build: {cargo}");
    assert!(
        words.windows(2).any(|w| w == ["-p", "wharf"]),
        "does not build -p wharf: {cargo}"
    );
    assert!(words.contains(&"--locked"), "ignores Cargo.lock: {cargo}");

    // The runtime stage: slim, the binary from the build stage, not root,
    // `wharf` as the entrypoint (the Kubernetes args start with `up`).
    let runtime_image = &runtime[0].value;
    assert!(
        runtime_image.contains("-slim"),
        "runtime image {runtime_image} is not slim"
    );
    let entrypoint: Vec<String> =
        serde_json::from_str(values(runtime, "ENTRYPOINT").last().expect("no ENTRYPOINT"))
            .expect("ENTRYPOINT is not in exec (JSON) form");
    assert_eq!(entrypoint.len(), 1, "ENTRYPOINT {entrypoint:?}");
    assert!(
        entrypoint[0].ends_with("/wharf"),
        "ENTRYPOINT {entrypoint:?}"
    );
    let copies = values(runtime, "COPY");
    let copy = copies
        .iter()
        .find(|c| c.starts_with(&format!("--from={stage_name} ")))
        .unwrap_or_else(|| panic!("the runtime stage copies nothing from stage {stage_name}"));
    let words: Vec<&str> = copy.split_whitespace().collect();
    assert_eq!(words.len(), 3, "COPY {copy}");
    assert_eq!(words[2], entrypoint[0], "COPY {copy} is not the ENTRYPOINT");
    assert!(
        runs.contains(words[1]),
        "the build stage does not produce {} (COPY {copy})",
        words[1]
    );
    let user = values(runtime, "USER");
    let user = user.last().expect("runs as root: no USER");
    let uid: u32 = user.split(':').next().unwrap().parse().unwrap_or_else(|_| {
        panic!("USER {user} is not numeric (runAsNonRoot cannot check a name)")
    });
    assert_ne!(uid, 0, "runs as root");

    // In step with the Kubernetes Deployment: same user, same ports.
    let manifests = std::fs::read_to_string(super::deploy_path("kubernetes/wharf.yaml")).unwrap();
    let deployment = manifests
        .split("\n---\n")
        .map(|doc| serde_yaml_ng::from_str::<Value>(doc).unwrap())
        .find(|d| d["kind"] == "Deployment")
        .expect("no Deployment in kubernetes/wharf.yaml");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        pod["securityContext"]["runAsUser"].as_u64(),
        Some(u64::from(uid))
    );
    let exposed: Vec<u64> = values(runtime, "EXPOSE")
        .iter()
        .flat_map(|v| v.split_whitespace())
        .map(|p| p.parse().unwrap())
        .collect();
    for port in pod["containers"][0]["ports"].as_array().unwrap() {
        let port = port["containerPort"].as_u64().unwrap();
        assert!(
            exposed.contains(&port),
            "container port {port} is not EXPOSEd: {exposed:?}"
        );
    }

    // The build context leaves out build output and local state.
    let ignore = std::fs::read_to_string(super::deploy_path("Dockerfile.dockerignore"))
        .expect("no deploy/Dockerfile.dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    for needed in ["target", ".git", "**/.wharf"] {
        assert!(
            patterns.contains(&needed),
            "the build context keeps {needed}"
        );
    }
    for kept in ["Cargo.toml", "Cargo.lock", "host", "wit", "sdk"] {
        assert!(!patterns.contains(&kept), "the build context drops {kept}");
    }
}
