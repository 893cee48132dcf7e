from dastat.cli import main

raise SystemExit(main())
