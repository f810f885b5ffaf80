"""homepbx: PBX orchestration for home-based call-centre agents over Asterisk 22."""

__version__ = "0.1.0"
