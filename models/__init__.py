"""Churn-model maths as plain, typed functions. Never imports prefect."""
