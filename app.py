"""Start Persona Studio on 127.0.0.1 (port: $GRADIO_SERVER_PORT, default 7860). Same as the `persona-studio` command."""
from studio.ui.app import main

if __name__ == "__main__":
    main()
