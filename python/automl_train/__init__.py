"""Training code of the AutoML training-jobs service.

The rendered Airflow DAGs call ``automl_train.run.run_job(spec)`` inside the
training virtualenv; see README.md in this folder for the job spec and the
table shapes each algorithm expects.
"""

__version__ = "0.1.0"
