"""The three services of Sổ vàng: intake, council and book. None imports another.

``REGISTRY`` is what the ``sovang`` command, the gateway and the edge know of them: each
package's declaration (``shared.registry``), in the order of ``shared.config.SERVICES``.
"""

from services import book, council, intake
from shared.config import SERVICES
from shared.registry import Service

REGISTRY: dict[str, Service] = {s.name: s for s in (intake.DECLARATION, council.DECLARATION, book.DECLARATION)}
assert tuple(REGISTRY) == SERVICES, "services.REGISTRY and shared.config.SERVICES name the same services"
