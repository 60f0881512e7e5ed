"""The Error Viewer: a job's errors grouped by object, filtered, copied and exported to CSV."""

from .viewer import ErrorViewer

__all__ = ["ErrorViewer"]
