"""Performance-critical ops of CR-GAN as Triton kernels with PyTorch fallbacks (``crgan.kernels``).

=========================  ====================================================================
``blend``                  generator output XG = XR*XC + XS*(1-XC)
``blend_context_loss``     (XG, Lcon) in one pass forward and one backward
``residual_instance_norm`` x + IN(h)*weight + bias, for the generator's residual blocks
``pairwise_distance``      squared Euclidean or cosine distance between two feature sets
``rank_metrics``           CMC and mAP on the distance matrix's device
=========================  ====================================================================

Each op runs its Triton kernel on CUDA tensors when Triton is installed and its reference in
``_reference.py`` otherwise; ``CRGAN_KERNELS=torch|triton`` forces one (see ``_dispatch``).
"""
from crgan.kernels._dispatch import backend
from crgan.kernels.blend import blend, blend_context_loss
from crgan.kernels.distance import pairwise_distance
from crgan.kernels.ranking import rank_metrics
from crgan.kernels.residual_norm import residual_instance_norm

__all__ = ["backend", "blend", "blend_context_loss", "pairwise_distance", "rank_metrics",
           "residual_instance_norm"]
