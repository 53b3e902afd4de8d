//! Banter's WebSocket wire protocol: the frames clients and the server exchange, as plain serde
//! types with no server dependencies, shared by the server, its tests and load tools.
