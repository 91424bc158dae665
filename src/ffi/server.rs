//! The C ABI of the socket server (placeholder until the server lands).
