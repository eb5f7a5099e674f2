//! `/openapi/v2` as protobuf: gnostic's `openapi.v2.Document`
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`), which is the only
//! form client-go's `OpenAPISchema()` reads, and so what kubectl validates a
//! `kind: List` against.
//!
//! Only the messages and fields our Swagger documents use are declared, with the
//! field numbers of gnostic's `openapiv2/OpenAPIv2.proto`; a one-variant `oneof` is
//! written as the optional field it is on the wire. Declared by hand because no crate
//! carries gnostic's messages (none found on crates.io; k8s-pb and k8s-openapi do not). Values that gnostic keeps as
//! `Any` (defaults, examples, enums, `x-` extensions) carry their YAML text, which
//! JSON is; kube-openapi reads extensions back with a YAML decoder.

use prost::Message;
use serde_json::Value;

#[derive(Clone, PartialEq, Message)]
pub struct Document {
    #[prost(string, tag = "1")]
    pub swagger: String,
    #[prost(message, optional, tag = "2")]
    pub info: Option<Info>,
    #[prost(message, optional, tag = "8")]
    pub paths: Option<Paths>,
    #[prost(message, optional, tag = "9")]
    pub definitions: Option<Definitions>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Info {
    #[prost(string, tag = "1")]
    pub title: String,
    #[prost(string, tag = "2")]
    pub version: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Paths {
    #[prost(message, repeated, tag = "2")]
    pub path: Vec<NamedPathItem>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NamedPathItem {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<PathItem>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PathItem {
    #[prost(message, optional, tag = "2")]
    pub get: Option<Operation>,
    #[prost(message, optional, tag = "3")]
    pub put: Option<Operation>,
    #[prost(message, optional, tag = "4")]
    pub post: Option<Operation>,
    #[prost(message, optional, tag = "5")]
    pub delete: Option<Operation>,
    #[prost(message, optional, tag = "8")]
    pub patch: Option<Operation>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Operation {
    #[prost(string, tag = "5")]
    pub operation_id: String,
    #[prost(message, repeated, tag = "8")]
    pub parameters: Vec<ParametersItem>,
    #[prost(message, optional, tag = "9")]
    pub responses: Option<Responses>,
    #[prost(message, repeated, tag = "13")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `oneof { Parameter parameter = 1; JsonReference json_reference = 2; }`
#[derive(Clone, PartialEq, Message)]
pub struct ParametersItem {
    #[prost(message, optional, tag = "1")]
    pub parameter: Option<Parameter>,
}

/// `oneof { BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2; }`
#[derive(Clone, PartialEq, Message)]
pub struct Parameter {
    #[prost(message, optional, tag = "2")]
    pub non_body_parameter: Option<NonBodyParameter>,
}

/// `oneof { ...; QueryParameterSubSchema query_parameter_sub_schema = 3; ... }`
#[derive(Clone, PartialEq, Message)]
pub struct NonBodyParameter {
    #[prost(message, optional, tag = "3")]
    pub query_parameter_sub_schema: Option<QueryParameterSubSchema>,
}

#[derive(Clone, PartialEq, Message)]
pub struct QueryParameterSubSchema {
    #[prost(string, tag = "2")]
    pub r#in: String,
    #[prost(string, tag = "4")]
    pub name: String,
    #[prost(string, tag = "6")]
    pub r#type: String,
    #[prost(bool, tag = "20")]
    pub unique_items: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Responses {
    #[prost(message, repeated, tag = "1")]
    pub response_code: Vec<NamedResponseValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NamedResponseValue {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<ResponseValue>,
}

/// `oneof { Response response = 1; JsonReference json_reference = 2; }`
#[derive(Clone, PartialEq, Message)]
pub struct ResponseValue {
    #[prost(message, optional, tag = "1")]
    pub response: Option<Response>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Response {
    #[prost(string, tag = "1")]
    pub description: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Definitions {
    #[prost(message, repeated, tag = "1")]
    pub additional_properties: Vec<NamedSchema>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NamedSchema {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<Schema>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NamedAny {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<Any>,
}

/// gnostic's `Any`: field 1 is a `google.protobuf.Any`, unused here.
#[derive(Clone, PartialEq, Message)]
pub struct Any {
    #[prost(string, tag = "2")]
    pub yaml: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Schema {
    #[prost(string, tag = "1")]
    pub r#ref: String,
    #[prost(string, tag = "2")]
    pub format: String,
    #[prost(string, tag = "3")]
    pub title: String,
    #[prost(string, tag = "4")]
    pub description: String,
    #[prost(message, optional, tag = "5")]
    pub default: Option<Any>,
    #[prost(double, tag = "6")]
    pub multiple_of: f64,
    #[prost(double, tag = "7")]
    pub maximum: f64,
    #[prost(bool, tag = "8")]
    pub exclusive_maximum: bool,
    #[prost(double, tag = "9")]
    pub minimum: f64,
    #[prost(bool, tag = "10")]
    pub exclusive_minimum: bool,
    #[prost(int64, tag = "11")]
    pub max_length: i64,
    #[prost(int64, tag = "12")]
    pub min_length: i64,
    #[prost(string, tag = "13")]
    pub pattern: String,
    #[prost(int64, tag = "14")]
    pub max_items: i64,
    #[prost(int64, tag = "15")]
    pub min_items: i64,
    #[prost(bool, tag = "16")]
    pub unique_items: bool,
    #[prost(int64, tag = "17")]
    pub max_properties: i64,
    #[prost(int64, tag = "18")]
    pub min_properties: i64,
    #[prost(string, repeated, tag = "19")]
    pub required: Vec<String>,
    #[prost(message, repeated, tag = "20")]
    pub r#enum: Vec<Any>,
    #[prost(message, optional, boxed, tag = "21")]
    pub additional_properties: Option<Box<AdditionalPropertiesItem>>,
    #[prost(message, optional, tag = "22")]
    pub r#type: Option<TypeItem>,
    #[prost(message, optional, tag = "23")]
    pub items: Option<ItemsItem>,
    #[prost(message, repeated, tag = "24")]
    pub all_of: Vec<Schema>,
    #[prost(message, optional, tag = "25")]
    pub properties: Option<Properties>,
    #[prost(string, tag = "26")]
    pub discriminator: String,
    #[prost(bool, tag = "27")]
    pub read_only: bool,
    #[prost(message, optional, tag = "30")]
    pub example: Option<Any>,
    #[prost(message, repeated, tag = "31")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `oneof { Schema schema = 1; bool boolean = 2; }`
#[derive(Clone, PartialEq, Message)]
pub struct AdditionalPropertiesItem {
    #[prost(message, optional, boxed, tag = "1")]
    pub schema: Option<Box<Schema>>,
    #[prost(bool, optional, tag = "2")]
    pub boolean: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TypeItem {
    #[prost(string, repeated, tag = "1")]
    pub value: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ItemsItem {
    #[prost(message, repeated, tag = "1")]
    pub schema: Vec<Schema>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Properties {
    #[prost(message, repeated, tag = "1")]
    pub additional_properties: Vec<NamedSchema>,
}

fn any(value: &Value) -> Any {
    Any {
        yaml: value.to_string(),
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn extensions(value: &Value) -> Vec<NamedAny> {
    value
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(k, _)| k.starts_with("x-"))
                .map(|(k, v)| NamedAny {
                    name: k.clone(),
                    value: Some(any(v)),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn named_schemas(value: Option<&Value>) -> Vec<NamedSchema> {
    value
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(name, s)| NamedSchema {
                    name: name.clone(),
                    value: Some(schema(s)),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One Swagger 2.0 schema (JSON) as gnostic's `Schema`.
pub fn schema(value: &Value) -> Schema {
    let f64_of = |key: &str| value.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let i64_of = |key: &str| value.get(key).and_then(Value::as_i64).unwrap_or(0);
    let bool_of = |key: &str| value.get(key).and_then(Value::as_bool).unwrap_or(false);
    let schemas = |v: &Value| match v {
        Value::Array(items) => items.iter().map(schema).collect(),
        one => vec![schema(one)],
    };
    Schema {
        r#ref: text(value, "$ref"),
        format: text(value, "format"),
        title: text(value, "title"),
        description: text(value, "description"),
        default: value.get("default").map(any),
        multiple_of: f64_of("multipleOf"),
        maximum: f64_of("maximum"),
        exclusive_maximum: bool_of("exclusiveMaximum"),
        minimum: f64_of("minimum"),
        exclusive_minimum: bool_of("exclusiveMinimum"),
        max_length: i64_of("maxLength"),
        min_length: i64_of("minLength"),
        pattern: text(value, "pattern"),
        max_items: i64_of("maxItems"),
        min_items: i64_of("minItems"),
        unique_items: bool_of("uniqueItems"),
        max_properties: i64_of("maxProperties"),
        min_properties: i64_of("minProperties"),
        required: value
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        r#enum: value
            .get("enum")
            .and_then(Value::as_array)
            .map(|e| e.iter().map(any).collect())
            .unwrap_or_default(),
        additional_properties: value.get("additionalProperties").map(|a| {
            Box::new(match a {
                Value::Bool(b) => AdditionalPropertiesItem {
                    schema: None,
                    boolean: Some(*b),
                },
                s => AdditionalPropertiesItem {
                    schema: Some(Box::new(schema(s))),
                    boolean: None,
                },
            })
        }),
        r#type: value.get("type").map(|t| TypeItem {
            value: match t {
                Value::Array(ts) => ts
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect(),
                one => one.as_str().map(str::to_string).into_iter().collect(),
            },
        }),
        items: value.get("items").map(|i| ItemsItem { schema: schemas(i) }),
        all_of: value.get("allOf").map(schemas).unwrap_or_default(),
        properties: value.get("properties").map(|p| Properties {
            additional_properties: named_schemas(Some(p)),
        }),
        discriminator: text(value, "discriminator"),
        read_only: bool_of("readOnly"),
        example: value.get("example").map(any),
        vendor_extension: extensions(value),
    }
}

fn operation(value: &Value) -> Operation {
    let parameters = value
        .get("parameters")
        .and_then(Value::as_array)
        .map(|params| {
            params
                .iter()
                .map(|p| ParametersItem {
                    parameter: Some(Parameter {
                        non_body_parameter: Some(NonBodyParameter {
                            query_parameter_sub_schema: Some(QueryParameterSubSchema {
                                r#in: text(p, "in"),
                                name: text(p, "name"),
                                r#type: text(p, "type"),
                                unique_items: p
                                    .get("uniqueItems")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(false),
                            }),
                        }),
                    }),
                })
                .collect()
        })
        .unwrap_or_default();
    let responses = value
        .get("responses")
        .and_then(Value::as_object)
        .map(|r| Responses {
            response_code: r
                .iter()
                .map(|(code, response)| NamedResponseValue {
                    name: code.clone(),
                    value: Some(ResponseValue {
                        response: Some(Response {
                            description: text(response, "description"),
                        }),
                    }),
                })
                .collect(),
        });
    Operation {
        operation_id: text(value, "operationId"),
        parameters,
        responses,
        vendor_extension: extensions(value),
    }
}

/// A Swagger 2.0 document (as `openapi::v2_document` writes it), encoded.
pub fn encode(doc: &Value) -> Vec<u8> {
    let op = |item: &Value, verb: &str| item.get(verb).map(operation);
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .map(|paths| Paths {
            path: paths
                .iter()
                .map(|(name, item)| NamedPathItem {
                    name: name.clone(),
                    value: Some(PathItem {
                        get: op(item, "get"),
                        put: op(item, "put"),
                        post: op(item, "post"),
                        delete: op(item, "delete"),
                        patch: op(item, "patch"),
                    }),
                })
                .collect(),
        });
    let info = doc.get("info").map(|i| Info {
        title: text(i, "title"),
        version: text(i, "version"),
    });
    Document {
        swagger: text(doc, "swagger"),
        info,
        paths,
        definitions: Some(Definitions {
            additional_properties: named_schemas(doc.get("definitions")),
        }),
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_round_trip_through_the_wire_format() {
        let doc = serde_json::json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1"},
            "paths": {"/apis/g/v1/things/{name}": {"patch": {
                "operationId": "patchThing",
                "parameters": [{"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true}],
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-group-version-kind": {"group": "g", "version": "v1", "kind": "Thing"},
            }}},
            "definitions": {"g.v1.Thing": {
                "type": "object", "required": ["spec"],
                "properties": {"spec": {"type": "object", "additionalProperties": {"type": "string"}},
                               "list": {"type": "array", "items": {"type": "integer", "maximum": 3}}},
                "x-kubernetes-group-version-kind": [{"group": "g", "version": "v1", "kind": "Thing"}],
            }},
        });
        let decoded = Document::decode(encode(&doc).as_slice()).expect("decodes");
        assert_eq!(decoded.swagger, "2.0");
        let definitions = decoded
            .definitions
            .expect("definitions")
            .additional_properties;
        let thing = definitions[0].value.clone().expect("schema");
        assert_eq!(definitions[0].name, "g.v1.Thing");
        assert_eq!(thing.r#type.expect("type").value, ["object"]);
        assert_eq!(thing.required, ["spec"]);
        assert_eq!(
            thing.vendor_extension[0].value.clone().expect("yaml").yaml,
            r#"[{"group":"g","version":"v1","kind":"Thing"}]"#
        );
        let properties = thing.properties.expect("properties").additional_properties;
        let list = properties[1].value.clone().expect("list");
        assert_eq!(list.items.expect("items").schema[0].maximum, 3.0);
        let patch = decoded.paths.expect("paths").path[0]
            .value
            .clone()
            .expect("item")
            .patch
            .expect("patch");
        assert_eq!(patch.operation_id, "patchThing");
    }
}
