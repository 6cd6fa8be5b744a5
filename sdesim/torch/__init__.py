"""The torch backend (the ``torch`` extra): SVAG, SGD and noisy GD for any ``nn.Module``,
noise-to-signal monitoring and the scaling-rule prediction, and the synthetic problems as
torchsde SDEs.  The core package never imports this."""
