"""The applications built on the engine: the command line (`cli`), the HTTP server
(`server`), the Ray scale-out (`cluster`) and the job lifecycle those two share (`jobs`).
The engine never imports anything from here."""
