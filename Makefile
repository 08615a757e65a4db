# Release builds that are more than `cargo build --release`. `make help` lists the targets.
#
# `static` links glibc into the binary (static-pie), so it starts on any x86_64 Linux,
# whatever C library the machine has. The explicit --target keeps the flag off build
# scripts and proc-macros, which must stay dynamic; setting it for the host target in
# .cargo/config.toml would break plain `cargo build` and `cargo test` (rust-lang/rust#78210).

TARGET := x86_64-unknown-linux-gnu
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
STATIC_BIN := $(TARGET_DIR)/$(TARGET)/release/bookchat

.PHONY: help static static-path

help:
	@echo "make static        build a fully static release binary: $(STATIC_BIN)"
	@echo "make static-path   print where that binary is (for scripts: make -s static-path)"
	@echo "make help          this list"

static-path:
	@echo $(STATIC_BIN)

static:
	RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target $(TARGET)
	@ls -l $(STATIC_BIN)
	@file $(STATIC_BIN) 2>/dev/null || true
