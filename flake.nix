{
  description = "executionbackup: an Engine API multiplexer between one Ethereum consensus client and several execution clients";

  # The binaries need rustc 1.88 (Cargo.toml's rust-version): nixos-25.11 has a newer one.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});

      version = (builtins.fromTOML (builtins.readFile ./Cargo.toml)).package.version;

      # `--version` prints the git commit. build.rs asks git first, but the Nix sandbox has
      # neither git nor .git, so the commit comes from the flake's own revision instead.
      commit =
        if self ? rev then
          builtins.substring 0 12 self.rev
        else if self ? dirtyRev then
          "${builtins.substring 0 12 self.dirtyRev}-dirty"
        else
          "unknown";

      # Everything but the packaging and the docs, so that a new workspace member is picked up
      # and editing the README or the Docker files does not rebuild.
      src = lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.difference ./. (
          lib.fileset.unions (
            map lib.fileset.maybeMissing [
              ./.ci
              ./contrib
              ./dockerized
              ./.dockerignore
              ./flake.nix
              ./flake.lock
              ./README.md
              ./CHANGELOG.md
            ]
          )
        );
      };

      meta = {
        license = with lib.licenses; [
          mit
          asl20
        ];
        platforms = lib.platforms.unix;
      };

      # One workspace member's binary, built in release (LTO, stripped) from Cargo.lock, without
      # default features: the daemon's `dev` feature (`--dev`, three embedded mock ELs) is left
      # out of the package, so it links no mock code and `--dev` exits with status 2; the fake
      # clients are the mock-el and mock-cl packages.
      mkBinary =
        pkgs:
        {
          pname,
          description,
        }:
        pkgs.rustPlatform.buildRustPackage {
          inherit pname version src;
          cargoLock.lockFile = ./Cargo.lock;
          buildNoDefaultFeatures = true;
          cargoBuildFlags = [
            "--package"
            pname
          ];
          # The tests run once, for the whole workspace, in checks.<system>.tests.
          doCheck = false;
          EB_GIT_COMMIT = commit;
          meta = meta // {
            inherit description;
            mainProgram = pname;
          };
        };

      mkPackages = pkgs: {
        executionbackup = mkBinary pkgs {
          pname = "executionbackup";
          description = "Engine API multiplexer: one consensus client, several execution clients, voting and failover";
        };
        mock-el = mkBinary pkgs {
          pname = "mock-el";
          description = "Fake Ethereum execution clients speaking the Engine API, for tests and local testnets";
        };
        mock-cl = mkBinary pkgs {
          pname = "mock-cl";
          description = "A fake Ethereum consensus client: produces blocks through any Engine API endpoint";
        };
      };
    in
    {
      packages = forAllSystems (
        system: pkgs:
        let
          built = mkPackages pkgs;
        in
        {
          default = built.executionbackup;
          inherit (built) executionbackup mock-el mock-cl;
        }
      );

      # `nix run . -- --nodes ... --jwt-secret ...` starts the daemon;
      # `nix run .#mock-el -- --count 3 --jwt-secret ...` starts three fake execution clients,
      # `nix run .#mock-cl -- --engine http://127.0.0.1:7000 --jwt-secret ...` drives them.
      apps = forAllSystems (
        system: pkgs: {
          default = {
            type = "app";
            program = "${self.packages.${system}.default}/bin/executionbackup";
            meta.description = "Run the executionbackup daemon";
          };
          mock-el = {
            type = "app";
            program = "${self.packages.${system}.mock-el}/bin/mock-el";
            meta.description = "Run fake execution clients";
          };
          mock-cl = {
            type = "app";
            program = "${self.packages.${system}.mock-cl}/bin/mock-cl";
            meta.description = "Drive an Engine API endpoint like a consensus client";
          };
        }
      );

      checks = forAllSystems (
        system: pkgs: {
          inherit (self.packages.${system}) executionbackup mock-el mock-cl;

          # `cargo test --workspace`: unit, integration (real sockets on loopback),
          # snapshot and simulation tests. A debug build keeps it quick.
          tests = pkgs.rustPlatform.buildRustPackage {
            pname = "executionbackup-tests";
            inherit version src;
            cargoLock.lockFile = ./Cargo.lock;
            buildType = "debug";
            checkType = "debug";
            cargoTestFlags = [ "--workspace" ];
            EB_GIT_COMMIT = commit;
            # The integration tests listen on 127.0.0.1.
            __darwinAllowLocalNetworking = true;
            installPhase = ''
              runHook preInstall
              mkdir -p $out
              echo "cargo test --workspace passed" > $out/result
              runHook postInstall
            '';
            meta = meta // {
              description = "executionbackup's test suite";
            };
          };
        }
      );

      devShells = forAllSystems (
        system: pkgs: {
          default = pkgs.mkShell {
            packages =
              [
                pkgs.cargo
                pkgs.rustc
                pkgs.clippy
                pkgs.rustfmt
                pkgs.rust-analyzer
                pkgs.cargo-insta # snapshot tests: cargo insta review
                pkgs.hyperfine # timing
                pkgs.openssl # openssl rand -hex 32 > jwt.hex
                pkgs.git # build.rs reads the commit
              ]
              ++ lib.optionals pkgs.stdenv.isLinux [
                pkgs.wrk # load tests
                pkgs.hadolint # dockerized/Dockerfile
              ];
            RUST_SRC_PATH = "${pkgs.rustPlatform.rustLibSrc}";
          };
        }
      );

      overlays.default = final: prev: {
        inherit (mkPackages final) executionbackup mock-el mock-cl;
      };
    };
}
