/// The OpenAPI 3 document of the HTTP API (`openapi.yaml` beside this file, embedded at build time), served at
/// `GET /openapi.yaml`. CI checks the running server against it with schemathesis (`scripts/test-http.sh`).
enum OpenAPIDocument {
    static var yaml: [UInt8] { PackageResources.openapi_yaml }
}
