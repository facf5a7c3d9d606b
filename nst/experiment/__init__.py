"""The workflow's experiment: the content x style x set grid (:mod:`.grid`), the fast, any-style
and video sections (:mod:`.fast`, :mod:`.arbitrary`, :mod:`.video`), GPU slots (:mod:`.gpu`)
and what each rule calls (:mod:`.jobs`). Importing these costs no TensorFlow or OpenCV:
Snakemake reads them to build the DAG."""
