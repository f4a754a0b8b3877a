"""JSON for event payloads, in one place: orjson (bytes out), the codec the collection path shares.

Event files and the collection server decode and re-encode millions of small objects; the standard
library's `json` is several times slower at that.
"""

import orjson

loads = orjson.loads
dumps = orjson.dumps
