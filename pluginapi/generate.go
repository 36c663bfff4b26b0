package pluginapi

// Regenerate the wire code with protoc, protoc-gen-go and protoc-gen-go-grpc
// on PATH (see docs/plugin-authoring.md, "Changing the schema"):
//go:generate protoc --proto_path=proto --go_out=proto --go_opt=paths=source_relative --go-grpc_out=proto --go-grpc_opt=paths=source_relative relayplugin/v1/plugin.proto
