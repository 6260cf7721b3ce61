"""Regenerate the test notebooks: ``python tests/notebooks_failing/make_notebooks.py``.

Notebooks that fail on purpose (one way each) and good ones the executor tests run.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent
# `import studio.context as context` rather than `from studio import context`: the latter
# recursed in studio/__init__.__getattr__ when this was written (reported to its owner).
CONTEXT_IMPORT = "import studio.context as context"


def params_cell(source: str) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    return cell


NOTEBOOKS: dict[str, list[nbformat.NotebookNode]] = {
    # --- fail on purpose ---
    "raises.ipynb": [new_code_cell("x = 1"), new_code_cell("print('before')"),
                     new_code_cell("raise ValueError('boom on purpose')"), new_code_cell("print('never')")],
    "kernel_kill.ipynb": [new_code_cell("import os, signal"), new_code_cell("os.kill(os.getpid(), signal.SIGKILL)")],
    "os_exit.ipynb": [new_code_cell("import os"), new_code_cell("print('bye')"), new_code_cell("os._exit(1)")],
    "infinite_loop.ipynb": [new_code_cell("import os, time\nopen('kernel.pid', 'w').write(str(os.getpid()))"),
                            new_code_cell("while True:\n    time.sleep(0.01)")],
    "endless_print.ipynb": [new_code_cell("while True:\n    print('spam' * 100)")],
    "sys_exit_error.ipynb": [new_code_cell("import sys"), new_code_cell("sys.exit(3)"), new_code_cell("print('never')")],
    "sys_exit_ok.ipynb": [new_code_cell("import sys"), new_code_cell("print('stopping')\nsys.exit()"),
                          new_code_cell("print('never')")],
    "exit_builtin.ipynb": [new_code_cell("print('about to exit')"), new_code_cell("exit()"),
                           new_code_cell("print('never')")],
    # --- good ones ---
    "trivial.ipynb": [new_code_cell("a = 1"), new_code_cell("b = a + 1"), new_code_cell("print(b)")],
    "params.ipynb": [new_markdown_cell("# Parameters"), params_cell("region = 'north'\nn = 1"),
                     new_code_cell("print(f'region={region} n={n}')")],
    "context_write.ipynb": [
        new_code_cell(CONTEXT_IMPORT),
        new_code_cell("context.log.info('hello from ' + context.params.get('region', '?'))"),
        new_code_cell("context.events.send('sales.ingested', {'rows': 120})"),
        new_code_cell("context.state.put('cursor', 42)"),
        new_code_cell("print('secret is', context.secrets.get('db'))"),
    ],
    # --- warm kernels: nothing leaks from one run into the next; the run's cwd and context ---
    "leak_set.ipynb": [new_code_cell("leaked = 'from an earlier run'\nimport json\nprint('set', json.dumps(leaked))")],
    "leak_check.ipynb": [new_code_cell(
        "names = [n for n in ('leaked', 'json') if n in globals()]\n"
        "print('leaked names:', names)\nassert not names, names")],
    "where.ipynb": [
        new_code_cell("import os\nprint('pid', os.getpid())\nprint('cwd', os.getcwd())"),
        new_code_cell(CONTEXT_IMPORT + "\nprint('context file', os.environ.get('STUDIO_CONTEXT_FILE'))\n"
                      "print('service', context.service.name)\nprint('extra', os.environ.get('STUDIO_TEST_EXTRA'))"),
        new_code_cell("open('written_here.txt', 'w').write('ok')"),
    ],
    "context_read.ipynb": [
        new_code_cell(CONTEXT_IMPORT),
        new_code_cell("print('cursor', context.state.get('cursor'))\nassert context.state.get('cursor') == 42"),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    main()
