"""Train the video's network for two epochs from Python, read the run back, and plot it.

    python examples/train_two_epochs.py        # MNIST from $HANDPROP_DATA, else ~/.local/share/handprop (as every command)
"""

import handprop

run = handprop.train(epochs=2, out="runs/two-epochs", progress=False)  # any `handprop train` setting as a keyword
print(run)
for m in run.history["handprop"]:
    print(f"epoch {m.epoch}: train cost {m.train_cost:.5f}, test cost {m.test_cost:.5f}, "
          f"test accuracy {100 * m.test_accuracy:.2f}%, {m.train_seconds:.2f} s")

again = handprop.load_run("runs/two-epochs")  # what the CLI's --out folder holds, as the same kind of object
print("read back:", again)
x, labels = handprop.load_mnist("test")
print("test accuracy recomputed from run.network:", (run.network.predict(x) == labels).mean())
print("best epoch in metrics.json:", run.metrics()["best"])
fig = run.plot()  # nothing written, matplotlib's backend untouched
print("run.plot() gives", fig)
