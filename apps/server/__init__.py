"""The HTTP server: ComfyUI-compatible routes, our typed /v1 API, the WebSocket, the
persistent queue's worker. Depends on the engine; the engine never imports it."""
