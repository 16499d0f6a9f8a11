"""Start Persona Studio on 127.0.0.1 (port: $GRADIO_SERVER_PORT, default 7860)."""
import os

from studio.ui.app import QUEUE, build_app


def main() -> None:
    demo, i18n = build_app()
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    print(f"Persona Studio: http://127.0.0.1:{port}  (your files: {os.environ.get('STUDIO_HOME', 'workspace')}/)")
    demo.queue(**QUEUE).launch(server_name="127.0.0.1", server_port=port, i18n=i18n)


if __name__ == "__main__":
    main()
