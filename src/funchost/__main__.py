from funchost.indexing.loader import forget_launch_folder

# Only the app folder is importable, as in the host: not the folder this was launched from.
# First, before funchost imports the standard modules it uses: an app's `queue.py` there
# would otherwise take the place of `queue`.
forget_launch_folder()

from funchost.cli import main  # noqa: E402

raise SystemExit(main())
