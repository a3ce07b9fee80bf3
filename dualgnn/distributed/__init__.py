"""More than one process or machine: the same model, trained and exported by several processes.

The engine is PyTorch's: ``torch.distributed`` over gloo (CPU), ``DistributedDataParallel`` for the replicated
model, torchrun to start the processes; DGL's ``partition_graph`` cuts the graph. DGL's own distributed runtime
(graph servers and ``DistGraph``) does not run here (README "More than one machine" has the calls and errors).

==========================  ==================================================================================
``partition.py``            ``dualgnn partition``: a graph artifact -> N parts with a halo (DGL), norms, features
``parts.py``                the partition set on disk, and one part as a trainer loads it
``group.py``                the process group: errors every process raises, rows gathered on rank 0
``trainer.py``              ``dualgnn train-distributed``: one process per part, DDP, rank 0 validates and writes
``export.py``               ``dualgnn export-distributed``: disjoint query ranges, one shared index, one dataset
``launch.py``               the torchrun command line, for this machine or one machine of an ip config
==========================  ==================================================================================
"""
