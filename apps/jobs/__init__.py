"""Jobs from queue to outcome, shared by the server's in-process worker and the Ray pool:
the persistent queue, the ComfyUI messages a job's events become, and the one function
that walks a job through its life. No aiohttp and no Ray here."""
