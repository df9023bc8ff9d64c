from funchost.cli import main
from funchost.indexing.loader import forget_launch_folder

# Only the app folder is importable, as in the host: not the folder this was launched from.
forget_launch_folder()
raise SystemExit(main())
