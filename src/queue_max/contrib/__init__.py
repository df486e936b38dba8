"""Integrations with frameworks and libraries; each submodule needs its own extra installed.

- `queue_max.contrib.fastapi`: lifespan, dependency, middleware, admin router (`queue-max[fastapi]`)
- `queue_max.contrib.events`: typed events on a bubus event bus (`queue-max[events]`)
- `queue_max.contrib.django`, `queue_max.contrib.flask`: see their own docs

The core never imports this package; import the submodule you use.
"""

__all__: list[str] = []
