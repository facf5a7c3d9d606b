"""The workflow's experiment: the content x style x set grid (:mod:`.grid`), the fast and video
sections (:mod:`.fast`, :mod:`.video`), GPU slots (:mod:`.gpu`) and what each rule calls
(:mod:`.jobs`). Importing these costs no TensorFlow or OpenCV: Snakemake reads them to build the
DAG."""
