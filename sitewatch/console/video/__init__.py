"""Live view, recordings and playback at the console: the hub that relays one upstream per
camera to every viewer, the playback cache and range exports (docs/design/live-video.md)."""
