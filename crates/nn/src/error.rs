//! The crate's error type. Messages name the model element at fault so that a user
//! who never opened the ONNX file can still act on them.

/// Everything that can go wrong while loading or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes could not be decoded as an ONNX `ModelProto`.
    #[error("model bytes are not a valid ONNX protobuf: {0}")]
    Decode(String),
    /// The protobuf decoded, but describes something we cannot build a graph from.
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// The graph uses an operator (or an operator variant) this engine does not implement.
    #[error("unsupported operator `{op}` in node `{node}`{detail}")]
    UnsupportedOp {
        /// ONNX op type, e.g. `Gather`.
        op: String,
        /// Node name (or `#index` when the node is unnamed).
        node: String,
        /// Empty, or `: <why>` for an unsupported attribute value.
        detail: String,
    },
    /// A node failed at run time, typically because the shapes it received do not fit.
    #[error("node `{node}` ({op}): {msg}")]
    Node {
        /// Node name.
        node: String,
        /// ONNX op type.
        op: String,
        /// What went wrong.
        msg: String,
    },
    /// `run` was not given a value for one of the model's inputs.
    #[error("missing input `{0}`")]
    MissingInput(String),
    /// `run` was given an input the model does not have.
    #[error("unknown input `{name}`; the model's inputs are: {expected}")]
    UnknownInput {
        /// The name passed by the caller.
        name: String,
        /// Comma-separated list of valid names.
        expected: String,
    },
    /// An input's rank or a fixed dimension disagrees with the model's declaration.
    #[error("input `{name}`: {msg}")]
    InputShape {
        /// Input name.
        name: String,
        /// E.g. `expected rank 4, got 3`.
        msg: String,
    },
    /// An input contains NaN or ±infinity. The engine rejects these up front instead of
    /// producing silently meaningless outputs.
    #[error("input `{name}` contains a non-finite value ({value}) at flat index {index}")]
    NonFiniteInput {
        /// Input name.
        name: String,
        /// Flat (row-major) index of the first offending element.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// A tensor would exceed the engine's size limits.
    #[error("tensor too large: {0}")]
    TooLarge(String),
}
