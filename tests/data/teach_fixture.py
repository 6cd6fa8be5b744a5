import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    return (mo,)


@app.cell
def _(mo):
    mo.md("""
    # A fixture for `sdesim teach`: one control, one number that depends on it
    """)
    return


@app.cell
def _(mo):
    n = mo.ui.slider(1, 20, value=3, label="n")
    n
    return (n,)


@app.cell
def _(mo, n):
    square = n.value ** 2
    mo.md(f"n squared is **{square}**")
    return


if __name__ == "__main__":
    app.run()
