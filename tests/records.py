"""What one prediction record holds: the schema the CLI and the engine tests both pin."""

LABELS = ["walk", "run", "jump", "swim", "climb"]
RECORD_KEYS = {
    "path",
    "ok",
    "labels",
    "views",
    "clips",
    "crops",
    "frames",
    "fps",
    "duration",
    "width",
    "height",
    "seconds",
    "error",
    "decoder",
}
