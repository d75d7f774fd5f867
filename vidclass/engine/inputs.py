"""Moved to ``vidclass.data.files`` (finding video files is the data layer's job); re-exported here."""

from vidclass.data.files import VIDEO_EXTENSIONS, expand_paths, is_video_name, list_directory

__all__ = ["VIDEO_EXTENSIONS", "expand_paths", "is_video_name", "list_directory"]
