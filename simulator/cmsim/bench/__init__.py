"""Kernel workloads and their numpy golden models."""
