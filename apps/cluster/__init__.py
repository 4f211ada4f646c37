"""Running jobs on a Ray cluster: the actor that renders (`worker`), what travels between it
and the server (`wire`), and the server-side pool that dispatches the queue (`pool`)."""
