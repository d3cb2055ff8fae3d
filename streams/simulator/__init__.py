"""Channel simulator: deterministic contact-center traffic for all ten channels, as CloudEvents.

`generate` is pure (same seed and start, same bytes); `publish` paces it onto Kafka.
"""

from streams.simulator.generate import Emission, generate
from streams.simulator.publish import PublishStats, publish

__all__ = ["Emission", "PublishStats", "generate", "publish"]
