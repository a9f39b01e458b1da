from esrgan.cli import main

raise SystemExit(main())
