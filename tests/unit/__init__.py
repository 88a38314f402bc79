"""Unit tests: literal data, no services, no sockets; the layer runs in seconds (make unit).
Static checks (lint-imports, tsc) run here as processes."""
