"""Models: TFLite flatbuffers in, firmware and per-operator cycles out."""
