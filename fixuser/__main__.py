from fixuser.main import main

raise SystemExit(main())
