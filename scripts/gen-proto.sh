#!/usr/bin/env bash
# Regenerates Sources/PhalanxWire/Generated/*.pb.swift from Protos/*.proto (the wire protocol and
# the stored form of transaction records).
# Needs protoc (Debian: protobuf-compiler) and protoc-gen-swift built from the swift-protobuf
# version in Package.swift; both are installed/built here on first use (a few minutes, once).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler; }

plugin_dir=.build-protoc
plugin="$plugin_dir/release/protoc-gen-swift"
if [ ! -x "$plugin" ]; then
    echo "building protoc-gen-swift (once; a few minutes)"
    swift build -c release --product protoc-gen-swift --scratch-path "$plugin_dir"
fi

out=Sources/PhalanxWire/Generated
mkdir -p "$out"
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public --swift_out="$out" -I Protos Protos/phalanx.proto Protos/phalanx_store.proto
echo "generated $out/phalanx.pb.swift and $out/phalanx_store.pb.swift"
