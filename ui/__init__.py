"""UI support for the Streamlit workbench (app.py, views/). `ui.logic` and `ui.fixture` are pure Python
(no streamlit) so tests and benchmarks can use them; `ui.common` and `ui.mol3d` hold the Streamlit pieces."""
